package portal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shophooks/webhook"
)

// Option configures the handler New returns.
type Option func(*config)

type config struct {
	auth   func(*http.Request) (string, error)
	linker *Linker
	logger *slog.Logger
}

// WithAuth lets the application decide who may use the portal and which workspace they
// see: fn is called for every request that has no session of a Linker's sign-in link,
// and returns the workspace whose webhooks the request may see and change ("" is the
// default workspace). An error refuses the request with a "sign in" page (401); the
// error's text is logged, never shown.
func WithAuth(fn func(r *http.Request) (workspace string, err error)) Option {
	return func(c *config) { c.auth = fn }
}

// WithLinker lets the portal accept the sign-in links l signs (see Linker.Link): a link
// is good once, and starts a session in a cookie that lasts l's session length. It can be
// combined with WithAuth; a request with a session is served in the session's workspace.
func WithLinker(l *Linker) Option {
	return func(c *config) { c.linker = l }
}

// WithLogger sets the logger the portal reports failures to (a store error, a refused
// sign-in); by default nothing is logged. Secrets and header values are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// Pages and forms: how many deliveries a webhook's page lists, how much of a request body
// the portal reads.
const (
	deliveriesPerPage = 25
	chartDeliveries   = 200
	maxFormBytes      = 64 << 10
)

// handler is the portal: routes, templates, and the dispatcher behind them.
type handler struct {
	d     *webhook.Dispatcher
	cfg   config
	pages pages
	next  http.Handler
}

// New returns the portal as an http.Handler serving the workspace of each request, as
// WithAuth or a WithLinker session says; with neither option, it refuses every request.
// Mount it under any prefix with http.StripPrefix, so that it sees paths from its own
// root ("/", "/webhooks/...", "/events"): its links are relative, so they work under any
// prefix and behind a proxy that rewrites it. It serves its own stylesheet and script, so
// the pages need nothing from another origin. New panics if d is nil.
func New(d *webhook.Dispatcher, opts ...Option) http.Handler {
	if d == nil {
		panic("portal: New with a nil *webhook.Dispatcher")
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	cfg.logger = cmp.Or(cfg.logger, slog.New(slog.DiscardHandler))
	h := &handler{d: d, cfg: cfg, pages: mustParsePages()}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/{file}", h.static)
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)

	mux.HandleFunc("GET /{$}", h.authed(h.dashboard))
	mux.HandleFunc("GET /events", h.authed(h.events))
	mux.HandleFunc("GET /webhooks/new", h.authed(h.newForm))
	mux.HandleFunc("POST /webhooks/new", h.authed(h.create))
	mux.HandleFunc("GET /webhooks/{id}", h.authed(h.show))
	mux.HandleFunc("GET /webhooks/{id}/edit", h.authed(h.editForm))
	mux.HandleFunc("POST /webhooks/{id}/edit", h.authed(h.update))
	mux.HandleFunc("POST /webhooks/{id}/test", h.authed(h.test))
	mux.HandleFunc("POST /webhooks/{id}/activate", h.authed(h.activate))
	mux.HandleFunc("POST /webhooks/{id}/deactivate", h.authed(h.deactivate))
	mux.HandleFunc("GET /webhooks/{id}/delete", h.authed(h.deleteConfirm))
	mux.HandleFunc("POST /webhooks/{id}/delete", h.authed(h.delete))
	mux.HandleFunc("POST /webhooks/{id}/rotate-secret", h.authed(h.rotateSecret))
	mux.HandleFunc("POST /webhooks/{id}/recover", h.authed(h.recoverFailures))
	mux.HandleFunc("POST /webhooks/{id}/deliveries/{delivery}/redeliver", h.authed(h.redeliver))
	mux.HandleFunc("/", h.authed(func(w http.ResponseWriter, r *http.Request, s session) {
		h.notFound(w, r, s)
	}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.crossOrigin))
	h.next = cop.Handler(mux)
	return h
}

// ServeHTTP sets the headers every answer carries and routes the request.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/") {
		// Mounted with http.StripPrefix("/prefix/", ...): the paths lost their slash.
		r2 := *r
		u := *r.URL
		u.Path = "/" + u.Path
		if u.RawPath != "" {
			u.RawPath = "/" + u.RawPath
		}
		r2.URL = &u
		r = &r2
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer") // sign-in links carry their token in the URL
	hd.Set("X-Frame-Options", "DENY")
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	h.next.ServeHTTP(w, r)
}

// session is who a request is served for.
type session struct {
	Workspace string
	Link      bool // signed in with a Linker's link: the page offers "Sign out"
	SignedIn  bool // false for the pages of a request that is not signed in
}

// authed wraps a page handler: it finds the request's workspace or answers "sign in".
func (h *handler) authed(fn func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.auth == nil && h.cfg.linker == nil {
			h.cfg.logger.Error("portal: refusing a request: no authentication configured (use portal.WithAuth or portal.WithLinker)")
			h.message(w, r, session{}, http.StatusForbidden, "Portal closed",
				"This portal has no sign-in configured, so it shows nothing. The application must set portal.WithAuth or portal.WithLinker.", "")
			return
		}
		if l := h.cfg.linker; l != nil {
			if ws, ok := l.sessionOf(r, time.Now()); ok {
				fn(w, r, session{Workspace: ws, Link: true, SignedIn: true})
				return
			}
		}
		if h.cfg.auth != nil {
			ws, err := h.cfg.auth(r)
			if err == nil {
				fn(w, r, session{Workspace: ws, SignedIn: true})
				return
			}
			h.cfg.logger.Info("portal: request refused by the authentication hook", "path", r.URL.Path, "err", err)
		}
		text := "You are not signed in. Open the webhooks page from your account."
		if h.cfg.linker != nil {
			text = "You are not signed in, or your session has ended. Ask for a new sign-in link."
		}
		h.message(w, r, session{}, http.StatusUnauthorized, "Sign in", text, "")
	}
}

// subscription returns the subscription with that ID if it belongs to the session's
// workspace; another workspace's is not found, exactly as a missing one.
func (h *handler) subscription(ctx context.Context, s session, id string) (webhook.Subscription, error) {
	sub, err := h.d.Subscription(ctx, id)
	if err != nil {
		return webhook.Subscription{}, err
	}
	if sub.Workspace != s.Workspace {
		return webhook.Subscription{}, fmt.Errorf("portal: subscription %q: %w", id, webhook.ErrNotFound)
	}
	return sub, nil
}

// fail answers err: the one place errors become status codes and pages.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, s session, err error) {
	back := ""
	if id := r.PathValue("id"); id != "" && r.Method == http.MethodPost {
		back = rootOf(r) + "webhooks/" + pathEscape(id)
	}
	var ve *webhook.ValidationError
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		h.notFound(w, r, s)
	case errors.Is(err, webhook.ErrInactive):
		h.message(w, r, s, http.StatusConflict, "Webhook inactive",
			"This webhook is inactive, so nothing is sent to it. Activate it first.", back)
	case errors.Is(err, webhook.ErrInFlight):
		h.message(w, r, s, http.StatusConflict, "Delivery in progress",
			"This delivery is being sent right now. Try again in a moment.", back)
	case errors.Is(err, webhook.ErrTooManyAttempts):
		h.message(w, r, s, http.StatusConflict, "Delivery not sent again",
			fmt.Sprintf("This delivery has been attempted %d times or more, so it is not sent again. To send its data once more, the event has to be sent again as a new event.", webhook.MaxDeliveryAttempts), back)
	case errors.Is(err, webhook.ErrClosed):
		h.message(w, r, s, http.StatusServiceUnavailable, "Unavailable",
			"Webhooks are unavailable while the application shuts down. Try again shortly.", "")
	case errors.As(err, &ve):
		h.message(w, r, s, http.StatusBadRequest, "Not accepted", fieldMessage(ve), back)
	case errors.Is(err, context.Canceled):
		// The browser went away; nobody reads the answer.
	default:
		h.cfg.logger.Error("portal: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		h.message(w, r, s, http.StatusInternalServerError, "Something went wrong",
			"The request could not be completed. Try again; if it keeps failing, contact support.", back)
	}
}

// notFound is the one answer for a missing page, webhook or delivery, and for another
// workspace's: nothing in it depends on which.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request, s session) {
	h.message(w, r, s, http.StatusNotFound, "Not found",
		"There is no such page, webhook or delivery in this workspace.", "")
}

// crossOrigin answers a state-changing request that came from another site.
func (h *handler) crossOrigin(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, session{}, http.StatusForbidden, "Request refused",
		"This request came from another site, so it was refused. Use the portal's own buttons.", "")
}

// seeOther redirects a POST to a page of the portal, with a path relative to the
// portal's root, so that it works under any mount prefix.
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Location", rootOf(r)+path)
	w.WriteHeader(http.StatusSeeOther)
}
