// Command document writes the orders service's OpenAPI document, as its process serves
// it, to the file its argument names: the input of the generated client.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "document:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: document <output file>")
	}
	doc, err := host.Document(&orders.Service{})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	return os.WriteFile(os.Args[1], out.Bytes(), 0o644)
}
