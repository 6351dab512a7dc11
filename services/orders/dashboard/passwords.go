package dashboard

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MinPasswordLength is the fewest characters a new dashboard password may have.
const MinPasswordLength = 12

// maxPasswordBytes is bcrypt's limit: it would ignore whatever follows, and x/crypto
// refuses to hash a longer password rather than do so silently.
const maxPasswordBytes = 72

// minDistinctRunes refuses keyboard mashes of one or two keys ("aaaaaaaaaaaa", "abababababab").
const minDistinctRunes = 5

// commonPasswordList is written for Ordermill by hand: a short list of the passwords and
// stems people reach for first, shipped with the code so no download is needed.
//
//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for line := range strings.Lines(commonPasswordList) {
		line = strings.TrimRight(line, "\r\n")
		if line != "" && !strings.HasPrefix(line, "#") {
			m[line] = true
		}
	}
	return m
}()

// suffixNoise is what people append to a word to pass a composition rule ("Password1234!").
const suffixNoise = "0123456789!@#$%^&*()-_=+.,;:?~ "

// checkNewPassword says why password may not become the dashboard password of email, or
// returns nil. Every way of setting a password (bin/manager, the dev account) goes through
// SetManager, which calls it.
func checkNewPassword(email, password string) error {
	switch {
	case utf8.RuneCountInString(strings.TrimSpace(password)) < MinPasswordLength:
		return fmt.Errorf("a password needs at least %d characters", MinPasswordLength)
	case len(password) > maxPasswordBytes:
		return fmt.Errorf("a password may have at most %d bytes", maxPasswordBytes)
	case guessable(email, password):
		return errors.New("this password is too common or too easy to guess: choose another")
	}
	return nil
}

// guessable reports whether password is on the common list, or is the account's own email
// or its name, as it is or once lower-cased and stripped of trailing digits and symbols
// ("ana@example.com!" was taken: a probe); repeats a few keys; or, for any account but the
// dev account, names the product, in digits for letters too ("0rdermi11"): the dev
// account's password (DevDashboardPassword, "ordermill-dev") is printed by `make run` and
// in the README, and a real account that reused it would open with it.
func guessable(email, password string) bool {
	p := strings.ToLower(strings.TrimSpace(password))
	stem := strings.TrimRight(p, suffixNoise)
	email = strings.ToLower(strings.TrimSpace(email))
	name, _, _ := strings.Cut(email, "@")
	distinct := map[rune]bool{}
	for _, r := range p {
		distinct[r] = true
	}
	read := lettersOf.Replace(p)
	product := slices.ContainsFunc(productSpellings, func(name string) bool { return strings.Contains(read, name) }) &&
		email != strings.ToLower(DevManagerEmail)
	return commonPasswords[p] || commonPasswords[stem] || stem == strings.TrimRight(email, suffixNoise) ||
		stem == strings.TrimRight(name, suffixNoise) || len(distinct) < minDistinctRunes || product
}

// lettersOf reads the digits and symbols people write for letters as those letters.
var lettersOf = strings.NewReplacer("0", "o", "1", "l", "!", "l", "|", "l", "3", "e", "4", "a", "@", "a", "5", "s", "$", "s", "7", "t")

// productSpellings are the product's name as lettersOf reads its spellings: a 1 or a ! may
// stand for its i as well as its l ("0rderm1ll-dev": the review).
var productSpellings = []string{"ordermill", "ordermlll"}
