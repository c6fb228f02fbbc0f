package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/shophooks/webhook"
)

// MaxBodyBytes is the largest request body the handler reads: 1 MiB. A larger one is
// refused with 400 (code "body_too_large", field "body") before anything is changed.
const MaxBodyBytes = 1 << 20

// DefaultRotationOverlap is how long the secret replaced by rotate-secret still signs
// requests (next to the new one), unless the request names its own "overlap_ms": time for
// the merchant to give the receiver the new secret.
const DefaultRotationOverlap = 24 * time.Hour

// ErrForbidden is the error for the WithAuth function to return (or wrap) when the caller
// is known but may not act on the workspace: the handler answers 403. Any other error
// answers 401.
var ErrForbidden = errors.New("api: forbidden")

// Option configures the handler New returns.
type Option func(*config)

type config struct {
	auth   func(r *http.Request, workspace string) error
	logger *slog.Logger
	cop    *http.CrossOriginProtection
	copSet bool
}

// WithAuth decides who may do what: the handler calls fn before each request to a route,
// with the workspace named in its path ("" for the routes that name none: /event-types
// and /openapi.json), and refuses the request when fn returns an error: 403 when the error
// matches ErrForbidden, 401 otherwise. The error's text is never shown to the caller.
// fn is called concurrently. Without WithAuth every request answers 401.
func WithAuth(fn func(r *http.Request, workspace string) error) Option {
	return func(c *config) { c.auth = fn }
}

// WithLogger logs the errors that answer 500 (a store failure, say) to l, with the
// route. The default discards them. Secrets and header values are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithCrossOriginProtection replaces the check of state-changing requests (POST, PATCH,
// DELETE) sent by browsers from another origin, which by default is
// http.NewCrossOriginProtection(): use it to trust the origins of the application's own
// pages. A refused request answers 403 with code "cross_origin". nil turns the check off,
// for an API no browser calls with ambient credentials such as cookies.
func WithCrossOriginProtection(c *http.CrossOriginProtection) Option {
	return func(cfg *config) { cfg.cop, cfg.copSet = c, true }
}

// handler is the http.Handler New returns.
type handler struct {
	d   *webhook.Dispatcher
	cfg config
	mux *http.ServeMux
}

// New returns the management API of d as an http.Handler with every route at its root
// (mount it under a prefix with http.StripPrefix). It is safe for concurrent use and
// holds no state of its own besides its configuration: several handlers may serve one
// dispatcher. It panics if d is nil. See the package documentation for the routes and
// answers.
func New(d *webhook.Dispatcher, opts ...Option) http.Handler {
	if d == nil {
		panic("api: New with a nil dispatcher")
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.copSet {
		cfg.cop = http.NewCrossOriginProtection()
	}
	h := &handler{d: d, cfg: cfg, mux: http.NewServeMux()}
	h.routes()
	return h
}

// endpoint is a route's handler: it answers status and data in the envelope, or an
// error that writeError maps to its status. ws is the workspace of the path, already
// authorized and checked. A handler that answers 204 returns nil data; one that wrote
// its answer itself returns status 0.
type endpoint func(w http.ResponseWriter, r *http.Request, ws string) (status int, data any, err error)

func (h *handler) routes() {
	h.handle("GET /openapi.json", h.openAPI)
	h.handle("GET /event-types", h.eventTypes)

	h.handle("GET /workspaces/{workspace}/webhooks", h.listWebhooks)
	h.handle("POST /workspaces/{workspace}/webhooks", h.createWebhook)
	h.handle("GET /workspaces/{workspace}/webhooks/{id}", h.getWebhook)
	h.handle("PATCH /workspaces/{workspace}/webhooks/{id}", h.updateWebhook)
	h.handle("DELETE /workspaces/{workspace}/webhooks/{id}", h.deleteWebhook)
	h.handle("POST /workspaces/{workspace}/webhooks/{id}/test", h.testWebhook)
	h.handle("POST /workspaces/{workspace}/webhooks/{id}/activate", h.activateWebhook)
	h.handle("POST /workspaces/{workspace}/webhooks/{id}/deactivate", h.deactivateWebhook)
	h.handle("POST /workspaces/{workspace}/webhooks/{id}/rotate-secret", h.rotateSecret)
	h.handle("GET /workspaces/{workspace}/webhooks/{id}/deliveries", h.webhookDeliveries)
	h.handle("POST /workspaces/{workspace}/webhooks/{id}/recover", h.recoverWebhook)
	h.handle("GET /workspaces/{workspace}/webhooks/{id}/stats", h.webhookStats)

	h.handle("GET /workspaces/{workspace}/deliveries", h.listDeliveries)
	h.handle("GET /workspaces/{workspace}/deliveries/{id}", h.getDelivery)
	h.handle("POST /workspaces/{workspace}/deliveries/{id}/redeliver", h.redeliver)
	h.handle("GET /workspaces/{workspace}/stats", h.workspaceStats)
}

// handle registers fn for pattern: authorize, check the workspace, run, answer.
func (h *handler) handle(pattern string, fn endpoint) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if mw, ok := w.(*muxWriter); ok {
			mw.routed = true
			w = mw.ResponseWriter
		}
		ws := r.PathValue("workspace")
		if err := h.cfg.auth(r, ws); err != nil {
			writeAuthError(w, err)
			return
		}
		if ws != "" {
			if err := checkWorkspace(ws); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		status, data, err := fn(w, r, ws)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		switch status {
		case 0: // fn answered itself
		case http.StatusNoContent:
			w.WriteHeader(status)
		default:
			writeData(w, status, data)
		}
	})
}

// ServeHTTP answers one request: closed without an auth function, then the cross-origin
// check, then the route. The mux's own answers (404 for an unknown route, 405 for a
// wrong method, redirects to a cleaned path) are replaced by envelopes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // answers may hold a secret
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if h.cfg.auth == nil {
		writeEnvelopeError(w, http.StatusUnauthorized, "unauthorized", "this API has no authentication configured: every request is refused", "")
		return
	}
	if h.cfg.cop != nil {
		if err := h.cfg.cop.Check(r); err != nil {
			writeEnvelopeError(w, http.StatusForbidden, "cross_origin", "a cross-origin request from a browser may not change anything", "")
			return
		}
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	}
	mw := &muxWriter{ResponseWriter: w}
	h.mux.ServeHTTP(mw, r)
	if mw.routed {
		return
	}
	// The mux answered by itself: no route has this path, or not with this method.
	hdr := w.Header()
	hdr.Del("Location") // a redirect to a cleaned path would lose the mount prefix
	if mw.status == http.StatusMethodNotAllowed {
		writeEnvelopeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			r.Method+" is not allowed here; allowed: "+hdr.Get("Allow"), "")
		return
	}
	hdr.Del("Allow")
	writeEnvelopeError(w, http.StatusNotFound, "not_found", "no route for "+r.Method+" "+safePath(r.URL.Path), "")
}

// muxWriter stands between the mux and the client. The routes write through it
// untouched (they mark it routed and write to the ResponseWriter beneath); what the mux
// writes by itself is held back, and ServeHTTP answers in the envelope instead.
type muxWriter struct {
	http.ResponseWriter
	routed bool
	status int
}

func (m *muxWriter) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}

func (m *muxWriter) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return len(b), nil
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (m *muxWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// safePath is a request path as an error message may quote it: at most 200 bytes of
// valid UTF-8.
func safePath(p string) string {
	if len(p) > 200 {
		p = p[:200] + "..."
	}
	return toValidUTF8(p)
}
