package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/mulegate/mulegate/internal/console"
	"github.com/mulegate/mulegate/internal/waitfor"
)

// The console is tested in a real browser: headless Chromium driven
// through the DevTools protocol (chromedp), against the real gateway,
// Redis, the police store simulator and "mulegate console" processes.

// chromium is the browser's path ("" and a skip message when there is
// none: make test installs Debian's chromium when run as root).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIPPING the console's browser tests: no Chromium. Install it (Debian: apt-get install -y chromium; make test does so as root) and run them again.")
	return ""
}

// browser is one headless Chromium tab; every URL it requests is kept.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	urls []string
}

func newBrowser(t *testing.T, extraHeaders map[string]any) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
			b.mu.Lock()
			b.urls = append(b.urls, e.Request.URL+e.Request.URLFragment)
			b.mu.Unlock()
		}
	}))
	b.ctx = ctx
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if extraHeaders != nil {
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers(extraHeaders)}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval runs js in the page and decodes its value.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// until polls the page until js (an expression) is true; on a timeout
// it shows what the page says.
func (b *browser) until(t *testing.T, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + "\n" + document.body.innerText`))
			cancel()
			t.Fatalf("timed out after 20s waiting for %s (last error %v); the page:\n%s", what, err, page)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// search opens the search page and looks ibans up. It waits for the new
// page to replace the old (which may have a search form of its own)
// before it fills the form in: under load the click's navigation can
// land after the form was filled, and submit an empty one.
func (b *browser) search(t *testing.T, what, ibans string) {
	t.Helper()
	b.run(t, what+": mark the old page", chromedp.Evaluate[chromedp.Void](
		`document.body.appendChild(Object.assign(document.createElement('i'), {id: 'stale-page'}))`))
	b.run(t, what+": open search", chromedp.Click(chromedp.CSS(`a[href="/search"]`)))
	b.until(t, what+": the search page", `!document.getElementById('stale-page') && location.pathname === '/search' && !!document.querySelector('#ibans')`)
	b.run(t, what, chromedp.SetValue(chromedp.CSS(`#ibans`), ibans), chromedp.Click(chromedp.CSS(`form.search button`)))
}

func (b *browser) visited() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.urls)
}

// screenshot keeps what the window shows as NAME.png in the folder
// MULEGATE_SCREENSHOTS names (make screenshots writes docs/console/).
func (b *browser) screenshot(t *testing.T, name string) {
	dir := os.Getenv("MULEGATE_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// navTiming is the current page's navigation timing: time to first byte
// and to the load event, in ms.
func (b *browser) navTiming(t *testing.T) (ttfb, load float64) {
	t.Helper()
	b.until(t, "the page to finish loading", `performance.getEntriesByType('navigation')[0].loadEventEnd > 0`)
	nt := eval[struct {
		RequestStart, ResponseStart, LoadEventEnd, StartTime float64
	}](t, b, `(() => { const n = performance.getEntriesByType('navigation')[0];
		return {RequestStart: n.requestStart, ResponseStart: n.responseStart, LoadEventEnd: n.loadEventEnd, StartTime: n.startTime}; })()`)
	return nt.ResponseStart - nt.RequestStart, nt.LoadEventEnd - nt.StartTime
}

// consoleProc is a running "mulegate console".
type consoleProc struct {
	url string
}

// mustConsole runs "mulegate console" for org against the gateway, with
// a token file and the console section extra (YAML lines under
// console:), and returns its address.
func mustConsole(t *testing.T, p *pki, api, org, extra string) *consoleProc {
	t.Helper()
	dir := t.TempDir()
	leaf := p.clients[org]
	cert, key, tok := filepath.Join(dir, "org.pem"), filepath.Join(dir, "org-key.pem"), filepath.Join(dir, "token")
	for f, b := range map[string][]byte{cert: leaf.CertPEM(), key: leaf.KeyPEM(), tok: []byte(p.token(t, org, nil, nil))} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf("console:\n  listen: 127.0.0.1:0\n  api:\n    url: %s\n    cert_file: %s\n    key_file: %s\n    ca_file: %s\n    token_file: %s\n%s",
		api, cert, key, filepath.Join(p.dir, "ca.pem"), tok, extra)
	path := filepath.Join(dir, "console.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		err := run(ctx, []string{"console", "--config", path}, func(string) string { return "" }, pw, logs)
		pw.CloseWithError(fmt.Errorf("console returned: %w", err))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the console did not stop")
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "console "); ok {
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			return &consoleProc{url: u}
		}
	}
	t.Fatalf("the console did not start: %v\n%s", sc.Err(), logs.String())
	return nil
}

// TestConsoleInBrowser walks the console as its users do, in Chromium:
// an analyst at the holding bank signs in, finds the overdue report first
// in the inbox, acknowledges and closes it agreed, holds a recovery and
// returns part of it, and looks up a pasted list of 100 IBANs; a police
// officer (behind a single sign-on proxy) opens a three-hop chain, marks
// its second hop and clears an innocent account, and the correction
// reaches the bank's live feed. A POST without the CSRF token is refused,
// an injected inline script does not run, a <script> in a report renders
// as text, every action is audited with its user, and no URL the browser
// requested holds an IBAN.
func TestConsoleInBrowser(t *testing.T) {
	chromium(t)
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	gw := mustGateway(t, p, mustRedisAddrs(t), "audit:\n  path: "+auditPath+"\n", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2",
		"MULEGATE_REVIEW_RESPOND_WITHIN", "2s", "MULEGATE_CORRECTIONS_LOOKBACK", "1h",
		"MULEGATE_API_REQUEST_TIMEOUT", "5s") // a busy CI machine (-race, a cluster) must not turn a page into a 503: the console is under test here
	holder, victim, bankC := p.client(t, p.clients["bank-a"]), p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-c"])
	hTok, vTok, cTok := p.token(t, "bank-a", nil, nil), p.token(t, "bank-b", nil, nil), p.token(t, "bank-c", nil, nil)

	users := filepath.Join(t.TempDir(), "users")
	line, err := console.HashLine("a.jansen", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	auditor, _ := console.HashLine("auditor", "read but do not touch")
	if err := os.WriteFile(users, []byte(line+"\n"+auditor+" read-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bankConsole := mustConsole(t, p, gw.api, "bank-a", "  users_file: "+users+"\n")
	policeConsole := mustConsole(t, p, gw.api, "police-nl", "  user_header: X-Forwarded-User\n  trusted_proxies: [127.0.0.1]\n")

	// The cases: an overdue report, then a fresh one, then one with a
	// recovery request; the victim's bank files them (bank-a holds NL ABNA).
	report := func(c *http.Client, tok, key, body string) string {
		t.Helper()
		res := do(t, c, "POST", gw.api+"/v1/reports", tok, body, "Idempotency-Key", key)
		if res.status != 202 {
			t.Fatalf("report %s: %d %s", key, res.status, res.body)
		}
		return decodeInto[accepted](t, res).ReportID
	}
	overdue := report(victim, vTok, "c-overdue", fmt.Sprintf(`{"iban":%q,"category":"helpdesk_fraud","amount":{"value":"900","currency":"EUR"}}`, nlIBANText(501)))
	waitfor.Until(t, "the first review to be overdue", 10*time.Second, func() bool {
		return len(decodeInto[workPage](t, do(t, holder, "GET", gw.api+"/v1/reviews?overdue=true", hTok, "")).Reports) == 1
	})
	fresh := report(victim, vTok, "c-fresh", fmt.Sprintf(`{"iban":%q,"category":"phishing","description":"<script>window.__pwned=1</script> pay to NL91ABNA0417164300"}`, nlIBANText(502)))
	withMoney := report(victim, vTok, "c-money", fmt.Sprintf(`{"iban":%q,"category":"phishing","amount":{"value":"250","currency":"EUR"}}`, nlIBANText(503)))
	if res := do(t, victim, "POST", gw.api+"/v1/reports/"+withMoney+"/recovery", vTok, `{"amount":{"value":"250","currency":"EUR"},"return_to":"BE68539007547034"}`); res.status != 201 {
		t.Fatalf("recovery request: %d %s", res.status, res.body)
	}

	// The analyst signs in; a wrong password first.
	a := newBrowser(t, nil)
	a.run(t, "the login page", chromedp.Navigate(bankConsole.url+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "a.jansen"), chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "wrong password"),
		chromedp.Click(chromedp.CSS(`section.login button`)))
	a.until(t, "the wrong password to be refused", `document.body.innerText.includes('Wrong user name or password')`)
	a.run(t, "sign in", chromedp.SetValue(chromedp.CSS(`input[name=password]`), "correct horse battery"), chromedp.Click(chromedp.CSS(`section.login button`)))
	a.until(t, "the inbox", `document.querySelector('h1')?.innerText === 'Inbox'`)
	a.until(t, "three reports in the inbox", `document.querySelectorAll('table.inbox tbody tr').length === 3`)
	first := eval[string](t, a, `document.querySelector('table.inbox tbody tr a').innerText`)
	if first != overdue {
		t.Errorf("the inbox's first report is %s, want the overdue one %s", first, overdue)
	}
	a.screenshot(t, "inbox")

	// Acknowledge it from the inbox, then close it agreed on its page.
	a.run(t, "acknowledge", chromedp.Click(chromedp.CSS(`form[action="/reports/`+overdue+`/acknowledge"] button`)))
	a.until(t, "acknowledged", `document.querySelector('.flash')?.innerText === 'Acknowledged.'`)
	a.run(t, "open the report", chromedp.Click(chromedp.CSS(`a[href="/reports/`+overdue+`"]`)))
	a.until(t, "the report page", `document.querySelector('h1')?.innerText.includes('`+overdue+`')`)
	a.run(t, "close agreed", chromedp.Click(chromedp.CSS(`form.close input[value=agreed]`)),
		chromedp.SetValue(chromedp.CSS(`form.close select[name=fraud_type]`), "mule_account"),
		chromedp.SendKeys(chromedp.CSS(`form.close textarea`), "account frozen"), chromedp.Click(chromedp.CSS(`form.close button`)))
	a.until(t, "closed", `document.querySelector('.flash')?.innerText === 'Closed agreed.'`)
	st := decodeInto[reportOut](t, do(t, holder, "GET", gw.api+"/v1/reports/"+overdue, hTok, ""))
	if st.Review.State != "closed" || st.Review.Result != "agreed" {
		t.Errorf("after the console's close: %+v", st.Review)
	}

	// The recovery: hold all, return part.
	a.run(t, "the recoveries page", chromedp.Click(chromedp.CSS(`a[href="/recoveries"]`)))
	a.until(t, "the recovery listed", `document.querySelector('#owed')?.innerText.includes('`+withMoney+`')`)
	a.run(t, "open it", chromedp.Click(chromedp.CSS(`#owed a[href="/reports/`+withMoney+`"]`)))
	a.until(t, "its hold form", `!!document.querySelector('form[action$="/recovery/hold"]')`)
	a.run(t, "hold 250", chromedp.SetValue(chromedp.CSS(`form[action$="/recovery/hold"] input[name=amount]`), "250"),
		chromedp.Click(chromedp.CSS(`form[action$="/recovery/hold"] button`)))
	a.until(t, "held", `document.querySelector('.flash')?.innerText === 'Held 250.00 EUR.'`)
	a.run(t, "return 100", chromedp.SetValue(chromedp.CSS(`form[action$="/recovery/return"] input[name=amount]`), "100"),
		chromedp.SendKeys(chromedp.CSS(`form[action$="/recovery/return"] input[name=reference]`), "RET-77"),
		chromedp.Click(chromedp.CSS(`form[action$="/recovery/return"] button`)))
	a.until(t, "returned", `document.querySelector('.flash')?.innerText === 'Returned 100.00 EUR.'`)
	a.screenshot(t, "report")
	rec := decodeInto[struct {
		Recovery recoveryOut `json:"recovery"`
	}](t, do(t, victim, "GET", gw.api+"/v1/reports/"+withMoney, vTok, "")).Recovery
	if rec.State != "returned" || rec.Returned["value"] != "100.00" || rec.Partial == nil || !*rec.Partial {
		t.Errorf("the victim's view of the recovery: %+v", rec)
	}

	// A pasted list of 100 IBANs, one of them reported: the riskiest first.
	var list []string
	for n := range 100 {
		list = append(list, nlIBANText(501+n))
	}
	a.search(t, "search 100", strings.Join(list, "\n"))
	a.until(t, "100 results", `document.querySelectorAll('table.results tbody tr').length === 100`)
	top := eval[string](t, a, `document.querySelector('table.results tbody tr').innerText`)
	if !strings.Contains(top, nlIBANText(501)) || !strings.Contains(top, "high") {
		t.Errorf("the first result is %q, want the confirmed %s rated high", top, nlIBANText(501))
	}
	a.screenshot(t, "search")

	// The event feed: a <script> in a report renders as text; an injected
	// inline script is blocked by the Content-Security-Policy.
	a.run(t, "the feed", chromedp.Click(chromedp.CSS(`a[href="/events"]`)))
	a.until(t, "the report with a script in its description", `document.querySelector('#feed')?.innerText.includes('<script>window.__pwned=1</script>')`)
	pwned := eval[bool](t, a, `window.__pwned === 1`)
	injected := eval[bool](t, a, `(() => { const s = document.createElement('script'); s.textContent = 'window.__injected = 1'; document.body.appendChild(s); return window.__injected === 1; })()`)
	if pwned || injected {
		t.Errorf("a script ran: from the description %v, injected inline %v", pwned, injected)
	}

	// The police: a three-hop chain (bank-b's report of an account at
	// bank-a; bank-a's onward transfer to bank-c; bank-c's to bank-b).
	ibanA, ibanB, ibanC := nlIBANText(601), "GB29NWBK60161331926819", "BE68539007547034"
	root := report(victim, vTok, "c-chain", fmt.Sprintf(`{"iban":%q,"category":"phishing","amount":{"value":"1000","currency":"EUR"}}`, ibanA))
	onward := func(c *http.Client, tok, id, key, iban, value string) string {
		t.Helper()
		body := fmt.Sprintf(`{"transfers":[{"iban":%q,"amount":{"value":%q,"currency":"EUR"},"at":%q}]}`, iban, value, time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
		res := do(t, c, "POST", gw.api+"/v1/reports/"+id+"/onward", tok, body, "Idempotency-Key", key)
		if res.status != 201 {
			t.Fatalf("onward %s: %d %s", key, res.status, res.body)
		}
		return decodeInto[onwardOut](t, res).Reports[0].ReportID
	}
	hop1 := onward(holder, hTok, root, "hop-1", ibanB, "600")
	onward(bankC, cTok, hop1, "hop-2", ibanC, "300")

	o := newBrowser(t, map[string]any{"X-Forwarded-User": "officer.k"})
	o.run(t, "the police console", chromedp.Navigate(policeConsole.url+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name=id]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=id]`), root), chromedp.Click(chromedp.CSS(`form.open-report button`)))
	o.until(t, "the chain drawn as a tree of three", `document.querySelectorAll('ul.tree li').length === 3 && document.querySelectorAll('ul.tree ul ul li').length === 1`)
	facts := eval[string](t, o, `document.querySelector('dl.facts').innerText`)
	if !strings.Contains(facts, ibanA) || !strings.Contains(facts, "bank-b") {
		t.Errorf("the officer's report page says %q, want the IBAN %s and its reporter bank-b", facts, ibanA)
	}
	o.screenshot(t, "chain")
	o.run(t, "mark the second hop", chromedp.Click(chromedp.CSS(`ul.tree ul > li form input[value="`+ibanB+`"] ~ button`)))
	o.until(t, "marked", `document.querySelector('.flash')?.innerText === 'Marked.'`)
	var marked lookupMarker
	waitfor.Until(t, "the marker in lookups", 5*time.Second, func() bool {
		marked = decodeInto[lookupMarker](t, do(t, holder, "GET", gw.api+"/v1/ibans/"+ibanB, hTok, ""))
		return marked.Marker != nil
	})
	if marked.Marker.FraudType != "mule_account" || marked.Risk != "high" {
		t.Errorf("the second hop after the officer's mark: %+v", marked)
	}

	// The analyst looks the third hop's account up; the police clear it as
	// innocent; the correction reaches the bank's live feed.
	a.search(t, "look the account up", ibanC)
	a.until(t, "its lookup", `!!document.querySelector('section.lookup')`)
	a.run(t, "the live feed", chromedp.Click(chromedp.CSS(`a[href="/events"]`)))
	a.until(t, "the feed's stream open", `!!document.querySelector('#feed[sse-connect]')`)
	o.search(t, "search the innocent account", ibanC)
	o.until(t, "its actions", `!!document.querySelector('form[action="/ibans/clear"]')`)
	o.run(t, "clear it", chromedp.SetValue(chromedp.CSS(`form[action="/ibans/clear"] select[name=reason]`), "investigation_closed"),
		chromedp.Click(chromedp.CSS(`form[action="/ibans/clear"] button`)))
	o.until(t, "cleared", `document.querySelector('.flash')?.innerText.startsWith('Cleared')`)
	a.until(t, "the correction in the bank's live feed", `document.querySelector('#feed')?.innerText.includes('iban.corrected')`)
	a.screenshot(t, "events")

	// A POST without the CSRF token changes nothing.
	jar, err := chromedp.Call(a.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	cookies := jar.Cookies
	req, _ := http.NewRequest("POST", bankConsole.url+"/reports/"+fresh+"/acknowledge", strings.NewReader(url.Values{"back": {"inbox"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a POST without the CSRF token: %d, want 403", res.StatusCode)
	}
	if st := decodeInto[reportOut](t, do(t, holder, "GET", gw.api+"/v1/reports/"+fresh, hTok, "")); st.Review.State != "open" {
		t.Errorf("the CSRF-less POST acknowledged the report: %+v", st.Review)
	}

	// Without JavaScript the pages work the same: plain forms and links.
	n := newBrowser(t, map[string]any{"X-Forwarded-User": "officer.nojs"})
	if _, err := chromedp.Call(n.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	n.run(t, "search without JavaScript", chromedp.Navigate(policeConsole.url+"/search"), chromedp.WaitVisible(chromedp.CSS(`#ibans`)),
		chromedp.SetValue(chromedp.CSS(`#ibans`), ibanB), chromedp.Click(chromedp.CSS(`form.search button`)))
	n.until(t, "the lookup, without JavaScript", `document.querySelector('section.lookup h2')?.innerText.includes('`+ibanB+`')`)
	n.run(t, "who looked it up, without JavaScript", chromedp.Click(chromedp.CSS(`form[action="/ibans/lookups"] button`)))
	n.until(t, "the lookups table, without JavaScript", `document.body.innerText.includes('Who looked') && document.body.innerText.includes('bank-a')`)
	if got := eval[bool](t, n, `typeof htmx === 'undefined'`); !got {
		t.Error("htmx ran in a browser without JavaScript")
	}

	// A read-only user sees the report but cannot act on it.
	roJar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: roJar}
	if res, err := hc.PostForm(bankConsole.url+"/login", url.Values{"user": {"auditor"}, "password": {"read but do not touch"}}); err != nil || res.StatusCode != 200 {
		t.Fatalf("the auditor's sign-in: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	res, err = hc.Get(bankConsole.url + "/reports/" + fresh)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if res.StatusCode != 200 || csrf == nil || strings.Contains(string(page), "/acknowledge") {
		t.Fatalf("the read-only auditor's report page: %d, csrf %v, an acknowledge form shown: %v", res.StatusCode, csrf != nil, strings.Contains(string(page), "/acknowledge"))
	}
	res, err = hc.PostForm(bankConsole.url+"/reports/"+fresh+"/acknowledge", url.Values{"csrf": {string(csrf[1])}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a read-only user's acknowledge: %d, want 403", res.StatusCode)
	}
	if st := decodeInto[reportOut](t, do(t, holder, "GET", gw.api+"/v1/reports/"+fresh, hTok, "")); st.Review.State != "open" {
		t.Errorf("a read-only user acknowledged the report: %+v", st.Review)
	}

	// No URL the browsers asked for holds an IBAN.
	for _, u := range slices.Concat(a.visited(), o.visited(), n.visited()) {
		for _, ib := range append([]string{ibanA, ibanB, ibanC, "NL91ABNA0417164300"}, list...) {
			if strings.Contains(strings.ToUpper(u), ib) {
				t.Errorf("the browser requested %s, which holds %s", u, ib)
			}
		}
	}
	// Every action is audited with the user at the keyboard.
	gw.stop(t)
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	actors := map[string]map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r struct{ Action, Actor string }
		_ = json.Unmarshal([]byte(l), &r)
		if actors[r.Action] == nil {
			actors[r.Action] = map[string]bool{}
		}
		actors[r.Action][r.Actor] = true
	}
	for action, who := range map[string]string{"acknowledge": "a.jansen", "close": "a.jansen", "recovery_hold": "a.jansen",
		"recovery_return": "a.jansen", "lookup_batch": "a.jansen", "marker_set": "officer.k", "clear": "officer.k", "chain_read": "officer.k"} {
		if !actors[action][who] {
			t.Errorf("no %s audited with actor %s (actors: %v)", action, who, actors[action])
		}
	}
}

type lookupMarker struct {
	Risk   string `json:"risk"`
	Marker *struct {
		FraudType string `json:"fraud_type"`
	} `json:"marker"`
}

// TestConsoleLoad measures, in the browser, the inbox of a bank with
// 1,000 open reports and a search of 1,000 IBANs (time to first byte and
// to the load event, median of 3, without JavaScript's enhancement: a
// plain navigation). The figures are logged, not asserted (docs/perf).
func TestConsoleLoad(t *testing.T) {
	chromium(t)
	if testing.Short() {
		t.Skip("creates 1,000 reports")
	}
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	market, holder := p.client(t, p.clients["market-a"]), p.client(t, p.clients["bank-a"])
	mTok, hTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil)
	const n = 1000
	var list []string
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				res := do(t, market, "POST", gw.api+"/v1/reports", mTok, fmt.Sprintf(`{"iban":%q,"category":"phishing","amount":{"value":"10","currency":"EUR"}}`, nlIBANText(10000+i)),
					"Idempotency-Key", fmt.Sprint("load-", i))
				if res.status != 202 {
					t.Errorf("report %d: %d", i, res.status)
				}
			}
		}()
	}
	for i := range n {
		work <- i
		list = append(list, nlIBANText(10000+i))
	}
	close(work)
	wg.Wait()
	waitfor.Until(t, "1,000 reviews in the holder's work list", 30*time.Second, func() bool {
		return len(decodeInto[workPage](t, do(t, holder, "GET", gw.api+"/v1/reviews?limit=1000", hTok, "")).Reports) == n
	})
	c := mustConsole(t, p, gw.api, "bank-a", "")
	b := newBrowser(t, nil)
	measure := func(what string, load func()) {
		var ttfbs, loads []float64
		for range 3 {
			load()
			ttfb, full := b.navTiming(t)
			ttfbs, loads = append(ttfbs, ttfb), append(loads, full)
		}
		sort.Float64s(ttfbs)
		sort.Float64s(loads)
		t.Logf("console %s: time to first byte %.0f ms, load %.0f ms (median of 3; runs %.0f / %.0f ms)", what, ttfbs[1], loads[1], ttfbs, loads)
	}
	measure("inbox, 1,000 open reports (first page of 100)", func() {
		b.run(t, "the inbox", chromedp.Navigate(c.url+"/inbox"), chromedp.WaitVisible(chromedp.CSS(`table.inbox`)))
	})
	measure("search of 1,000 IBANs", func() {
		b.run(t, "search 1,000", chromedp.Navigate(c.url+"/search"), chromedp.WaitVisible(chromedp.CSS(`#ibans`)),
			chromedp.SetValue(chromedp.CSS(`#ibans`), strings.Join(list, "\n")),
		)
		eval[bool](t, b, `(() => { document.querySelector('form.search').submit(); return true; })()`)
		b.until(t, "1,000 results", `document.querySelectorAll('table.results tbody tr').length === 1000`)
	})
}
