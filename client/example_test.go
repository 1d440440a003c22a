package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mulegate/mulegate/client"
)

// A bank looks an IBAN up, reports one (retried with the same key on 503
// or 429), and follows its event feed from a stored cursor.
func Example() {
	ctx := context.Background()
	c, err := client.New(client.Config{
		BaseURL:  "https://mulegate.example:8443",
		CertFile: "bank.pem", KeyFile: "bank-key.pem", CAFile: "ca.pem",
		// Your identity provider's token, bound to bank.pem (cnf x5t#S256).
		Token: client.TokenFunc(fetchToken),
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := c.Lookup(ctx, "NL91ABNA0417164300")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Iban, *l.ReportCount, *l.Risk)

	key := client.NewIdempotencyKey() // keep it with the case until the 202
	a, replayed, err := c.SubmitReport(ctx, key, client.ReportRequest{Iban: "DE89370400440532013000", Category: "phishing"})
	if client.Code(err) == "idempotency_conflict" {
		log.Fatal("the key was used for another report")
	}
	if err != nil {
		log.Fatal(err) // retry later with the same key
	}
	fmt.Println(a.ReportId, replayed)

	for it, err := range c.Events(ctx, client.FeedOptions{After: loadCursor(), Follow: true}) {
		if err != nil {
			log.Fatal(err)
		}
		handle(it.Item) // de-duplicate on it.Item.EventId
		saveCursor(it.Cursor)
	}
}

func fetchToken(context.Context) (string, error) { return "", nil }
func loadCursor() string                         { return "" }
func saveCursor(string)                          {}
func handle(client.Event)                        {}
