// Package console is mulegate's web console (SPEC Part 3, "The
// console"): the pages the people who do the work use, fraud analysts at
// the banks and officers at the police, served by "mulegate console".
//
// It is a client of the API like the CLI (the client package, the org's
// certificate and tokens): it keeps no data of its own, every action is
// one API call, and every call names the user in X-Actor, so the
// gateway's audit trail says who did what. Pages are server-rendered
// html/template and work without JavaScript; htmx (vendored, pinned)
// enhances them where it helps: links and forms without full reloads,
// and the event feed live over Server-Sent Events.
//
// Safe by default: IBANs never in a URL (every search and every action
// about an IBAN is a POST), a CSRF token on every form, a strict
// Content-Security-Policy (no inline script or style), no-store,
// session cookies HttpOnly, SameSite=Strict and Secure over TLS, and
// errors shown without internals.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mulegate/mulegate/client"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a console.
type Options struct {
	// Client calls the gateway as the console's org.
	Client *client.Client
	// Users log in with a password (nil: no login form).
	Users *Users
	// UserHeader names the single sign-on proxy's user header, believed
	// only from Proxies.
	UserHeader string
	Proxies    proxies
	// Local: neither a proxy nor users; the user is "local" (the
	// listener is loopback: config refuses anything else).
	Local bool
	// SessionTTL ends a session this long after it began.
	SessionTTL time.Duration
	// Secure: served over TLS (Secure cookies, HSTS).
	Secure bool
	Log    *slog.Logger
	Now    func() time.Time
}

// Server is one org's console.
type Server struct {
	opt    Options
	sess   *sessions
	logins *loginLimiter
	pages  map[string]*template.Template
	mux    *http.ServeMux

	orgMu sync.Mutex
	org   *client.Limits // who the console is, from GET /v1/limits
}

// New builds a console.
func New(opt Options) (*Server, error) {
	if opt.Client == nil {
		return nil, errors.New("console: a client is required")
	}
	if opt.Users == nil && opt.UserHeader == "" && !opt.Local {
		return nil, errors.New("console: no way to know the user (a users file, a proxy header, or local)")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 8 * time.Hour
	}
	s := &Server{opt: opt, sess: newSessions(opt.SessionTTL, opt.Now),
		logins: &loginLimiter{fails: map[string][]time.Time{}, now: opt.Now}}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// ServeHTTP serves the console with its security headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if s.opt.Secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.signedIn(s.logout))
	m.HandleFunc("GET /{$}", s.signedIn(s.home))
	m.HandleFunc("GET /search", s.signedIn(s.searchPage))
	m.HandleFunc("POST /search", s.signedIn(s.search))
	m.HandleFunc("GET /inbox", s.signedIn(s.inbox))
	m.HandleFunc("GET /recoveries", s.signedIn(s.recoveries))
	m.HandleFunc("GET /events", s.signedIn(s.events))
	m.HandleFunc("GET /events/stream", s.signedIn(s.eventStream))
	m.HandleFunc("GET /reports", s.signedIn(s.openReport))
	m.HandleFunc("GET /reports/{id}", s.signedIn(s.report))
	m.HandleFunc("POST /reports/{id}/{action}", s.signedIn(s.acting(s.reportAction)))
	m.HandleFunc("POST /reports/{id}/recovery/{step}", s.signedIn(s.acting(s.recoveryAction)))
	m.HandleFunc("POST /ibans/{action}", s.signedIn(s.ibanAction))
	s.mux = m
}

// request is what a signed-in handler knows of its request.
type request struct {
	user User
	sess *session
	ctx  context.Context // carries the user as X-Actor
}

// signedIn finds the user (or sends them to log in), refuses a POST
// without the session's CSRF token, and calls h.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x, ok := s.session(w, r)
		if !ok {
			return
		}
		if r.Method == http.MethodPost && !s.sameOrigin(r, x) {
			s.fail(w, r, x, http.StatusForbidden, "This form has expired or did not come from this console. Go back, reload the page and try again.")
			return
		}
		r = r.WithContext(client.WithActor(r.Context(), x.user.Name)) // every API call names the user, page furniture included
		h(w, r, &request{user: x.user, sess: x, ctx: r.Context()})
	}
}

// acting refuses a read-only user.
func (s *Server) acting(h func(http.ResponseWriter, *http.Request, *request)) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, q *request) {
		if q.user.ReadOnly {
			s.fail(w, r, q.sess, http.StatusForbidden, "You can see but not act (a read-only user).")
			return
		}
		h(w, r, q)
	}
}

// sameOrigin: a POST carries the session's CSRF token, and a browser
// that says where it comes from says this site.
func (s *Server) sameOrigin(r *http.Request, x *session) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !strings.HasSuffix(o, "://"+r.Host) {
		return false
	}
	return validCSRF(x, r.PostFormValue("csrf"))
}

// cookieName is the session cookie's name: __Host- over TLS (the browser
// then insists on Secure, Path=/ and no Domain).
func (s *Server) cookieName() string {
	if s.opt.Secure {
		return "__Host-mulegate-console"
	}
	return "mulegate-console"
}

func (s *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: id, Path: "/", HttpOnly: true, Secure: s.opt.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.opt.SessionTTL / time.Second)})
}

// session is the request's session: from its cookie, or begun for the
// proxy's user or for "local"; without one it sends the browser to the
// login page (false).
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*session, bool) {
	var x *session
	if c, err := r.Cookie(s.cookieName()); err == nil {
		x, _ = s.sess.get(c.Value)
	}
	if s.opt.UserHeader != "" && s.opt.Proxies.trusts(r) {
		name := r.Header.Get(s.opt.UserHeader)
		if ValidName(name) {
			if x == nil || x.user.Name != name {
				var id string
				id, x = s.sess.start(User{Name: name})
				s.setCookie(w, id)
			}
			return x, true
		}
	}
	if x != nil {
		return x, true
	}
	if s.opt.Local {
		id, nx := s.sess.start(User{Name: "local"})
		s.setCookie(w, id)
		return nx, true
	}
	if s.opt.Users == nil {
		s.fail(w, r, nil, http.StatusUnauthorized, "Sign in through your organisation's single sign-on.")
		return nil, false
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil, false
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.opt.Users == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, nil, http.StatusOK, "login", "Sign in", nil)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.opt.Users == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		s.render(w, r, nil, http.StatusForbidden, "login", "Sign in", loginView{Error: "Sign in from this console's own page."})
		return
	}
	name, password := r.PostFormValue("user"), r.PostFormValue("password")
	if !s.logins.allowed(name) {
		s.render(w, r, nil, http.StatusTooManyRequests, "login", "Sign in", loginView{User: name, Error: "Too many failed sign-ins: wait a minute."})
		return
	}
	u, ok := s.opt.Users.check(name, password)
	if !ok {
		s.logins.failed(name)
		s.opt.Log.Info("console: failed sign-in", "user", name)
		s.render(w, r, nil, http.StatusUnauthorized, "login", "Sign in", loginView{User: name, Error: "Wrong user name or password."})
		return
	}
	if c, err := r.Cookie(s.cookieName()); err == nil {
		s.sess.end(c.Value) // a new session id at sign-in
	}
	id, _ := s.sess.start(u)
	s.setCookie(w, id)
	s.opt.Log.Info("console: signed in", "user", u.Name)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type loginView struct {
	User, Error string
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, q *request) {
	if c, err := r.Cookie(s.cookieName()); err == nil {
		s.sess.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.opt.Secure,
		SameSite: http.SameSiteStrictMode})
	if s.opt.Users != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, nil, http.StatusOK, "message", "Signed out", "You are signed out.")
}

// whoami is the console's org, from GET /v1/limits (kept once known).
func (s *Server) whoami(ctx context.Context) (*client.Limits, error) {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	if s.org != nil {
		return s.org, nil
	}
	l, err := s.opt.Client.Limits(ctx)
	if err != nil {
		return nil, err
	}
	s.org = l
	return l, nil
}

// page is what every template gets.
type page struct {
	Title    string
	User     User
	Org      string
	OrgType  client.OrgType
	CSRF     string
	Flash    string
	Problem  *problemView
	Section  string
	Data     any
	SignedIn bool
}

// problemView is an error as a person sees it: what the gateway said
// (its detail names the field or the state) and the request id to quote.
type problemView struct {
	Title, Detail, RequestID string
}

// render writes a page (status, the template's name, its data).
func (s *Server) render(w http.ResponseWriter, r *http.Request, x *session, status int, name, title string, data any) {
	p := page{Title: title, Data: data, Section: name}
	if x != nil {
		p.User, p.CSRF, p.SignedIn = x.user, x.csrf, true
		p.Flash = s.sess.takeFlash(x)
		if org, err := s.whoami(r.Context()); err == nil {
			p.Org, p.OrgType = org.Org, org.OrgType
		}
	}
	if pv, ok := data.(*problemView); ok {
		p.Problem, p.Data = pv, nil
	}
	var b bytes.Buffer
	t := s.pages[name]
	if t == nil {
		t = s.pages["message"]
	}
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		s.opt.Log.Error("console: template", "page", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fail shows a message page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, x *session, status int, msg string) {
	s.render(w, r, x, status, "message", http.StatusText(status), &problemView{Title: http.StatusText(status), Detail: msg})
}

// apiError shows what the gateway answered, or that it could not be
// reached, without internals.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, x *session, err error) {
	var e *client.Error
	if errors.As(err, &e) {
		title := e.Problem.Title
		if title == "" {
			title = http.StatusText(e.Status)
		}
		status := e.Status
		if status < 400 || status > 599 {
			status = http.StatusBadGateway
		}
		s.render(w, r, x, status, "message", title, &problemView{Title: title, Detail: e.Problem.Detail, RequestID: e.RequestID})
		return
	}
	s.opt.Log.Warn("console: the gateway could not be reached", "err", err)
	s.render(w, r, x, http.StatusBadGateway, "message", "Gateway unavailable",
		&problemView{Title: "The gateway could not be reached", Detail: "Try again in a moment; if it persists, tell your operator."})
}

// redirect sends the browser on after an action, with a message.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, x *session, to, flash string) {
	if flash != "" {
		s.sess.setFlash(x, flash)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04 UTC")
			case *time.Time:
				if v == nil || v.IsZero() {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04 UTC")
			}
			return fmt.Sprint(t)
		},
		"amount": func(a client.Amount) string {
			if a.IsZero() {
				return ""
			}
			return a.Value + " " + a.Currency
		},
		"sums": func(m client.CurrencySums) string {
			var parts []string
			for c, v := range m {
				parts = append(parts, v+" "+c)
			}
			return strings.Join(parts, ", ")
		},
		"join":  strings.Join,
		"deref": func(b *bool) bool { return b != nil && *b },
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("dict: odd arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, errors.New("dict: a key is not a string")
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"derefInt": func(p *int) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprint(*p)
		},
	}
	pages := map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: templates: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}
