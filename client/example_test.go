package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mulegate/mulegate/client"
)

// A bank's client: mTLS from PEM files, tokens from its identity
// provider's token endpoint (client credentials, bound to the client
// certificate), and a purpose the gateway audits every lookup under.
func Example() {
	c, err := client.New(client.Config{
		BaseURL:  "https://mulegate.example:8443",
		CertFile: "bank.pem", KeyFile: "bank-key.pem", CAFile: "ca.pem",
		TokenURL:  "https://idp.example/realms/mulegate/protocol/openid-connect/token",
		ClientID:  "bank-a",
		Purpose:   "payment_check",
		UserAgent: "payments-hub/4.2",
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = c
}

// Before a payment leaves: how many reports cite the payee's IBAN.
func ExampleClient_Lookup() {
	c := exampleClient()
	ctx := client.WithPurpose(context.Background(), "payment_check")
	l, err := c.Lookup(ctx, "NL91 ABNA 0417 1643 00")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.IBAN, l.ReportCount, "reports from", l.ReporterCount, "orgs; risk", l.Risk)
	if l.Risk == client.RiskHigh || l.Risk == client.RiskMedium {
		fmt.Println("hold the payment:", l.RiskReasons)
	}
	// Output:
	// NL91ABNA0417164300 2 reports from 2 orgs; risk medium
	// hold the payment: [reporters>=2]
}

// Report the IBAN a customer was tricked into paying. Keep the key with
// the case until the 202: a retry with the same key never counts twice.
func ExampleClient_SubmitReport() {
	c := exampleClient()
	key := client.NewIdempotencyKey()
	a, replayed, err := c.SubmitReport(context.Background(), key, client.ReportRequest{
		IBAN:      "DE89370400440532013000",
		Category:  client.CategoryPhishing,
		Amount:    client.Amount{Value: "249.95", Currency: "EUR"},
		Reference: "case-4711",
	})
	switch {
	case client.Code(err) == client.CodeIdempotencyConflict:
		log.Fatal("the key was used for another report")
	case err != nil:
		log.Fatal(err) // retry later with the same key
	}
	fmt.Println(a.ReportID, a.Status, a.ReportCount, replayed)
	// Output: d02a96b956f1645aad6abb910bc6ad31 queued 3 false
}

// Follow the bank's event feed from a stored cursor: each payload typed,
// the cursor stored once the event is handled (delivery is at least
// once: de-duplicate on EventID).
func ExampleClient_Events() {
	c := exampleClient()
	cursor := "" // load it from where you keep it
	for it, err := range c.Events(context.Background(), client.FeedOptions{After: cursor}) {
		if err != nil {
			log.Fatal(err)
		}
		p, err := it.Item.Payload()
		if err != nil {
			log.Fatal(err)
		}
		switch p := p.(type) {
		case *client.ReportReceived:
			fmt.Println("review", p.ReportID, "about", p.IBAN, "by", p.RespondBy.Format("2006-01-02"))
		case *client.IBANThreshold:
			fmt.Println(p.IBAN, "reached", p.ReporterCount, "reporters in", p.Window)
		}
		cursor = it.Cursor // store it
	}
	fmt.Println("resume after", cursor)
	// Output:
	// review d02a96b956f1645aad6abb910bc6ad31 about DE89370400440532013000 by 2026-12-09
	// DE89370400440532013000 reached 3 reporters in 30d
	// resume after 1796174220000-0
}

// The holding bank closes a report it investigated: agreed, a mule
// account.
func ExampleClient_CloseReport() {
	c := exampleClient()
	st, err := c.CloseReport(context.Background(), "d02a96b956f1645aad6abb910bc6ad31", client.CloseRequest{
		Result:    client.ResultAgreed,
		FraudType: client.FraudMuleAccount,
		Details:   "account frozen, owner recruited via social media",
	})
	if client.Code(err) == client.CodeInvalidState {
		log.Fatal("closed differently before: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Review.State, st.Review.Result, st.Review.FraudType)
	// Output: closed agreed mule_account
}
