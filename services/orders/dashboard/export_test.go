package dashboard

// ClientAddress lets the external tests check which address a sign-in counts against.
var ClientAddress = (*Service).clientAddress
