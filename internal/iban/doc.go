// Package iban is the IBAN value: it normalises, validates against the
// ISO 13616 registry (country, length, BBAN character classes, mod-97 and
// the 02–98 check-digit range), extracts the bank identifier and masks an
// IBAN for logs. It does no I/O and imports only the standard library.
package iban
