package iban_test

import (
	"errors"
	"fmt"

	"github.com/mulegate/mulegate/internal/iban"
)

func ExampleParse() {
	i, err := iban.Parse("nl91 abna 0417 1643 00")
	if err != nil {
		panic(err)
	}
	fmt.Println(i, i.Country(), i.BankCode(), i.Masked())

	_, err = iban.Parse("NL92ABNA0417164300")
	var ie *iban.Error
	if errors.As(err, &ie) {
		fmt.Println(ie.Rule, "-", ie.Detail)
	}
	// Output:
	// NL91ABNA0417164300 NL ABNA NL91ABNA******4300
	// checksum - mod-97 checksum does not match
}
