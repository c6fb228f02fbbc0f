package webhook

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// Option configures a Dispatcher at New.
type Option func(*config)

// config is every setting of a Dispatcher; defaults are filled in by New, in one place.
type config struct {
	client       *http.Client
	policy       RetryPolicy
	policySet    bool
	workers      int
	logger       *slog.Logger
	catalog      *eventtypes.Catalog
	observer     func(AttemptResult)
	signer       Signer
	allowPrivate bool
	requireHTTPS bool
	userAgent    string

	maxInFlight      int
	maxTimeout       time.Duration
	inFlightCap      int
	wsInFlight       int
	breakerThreshold int
	probeEvery       time.Duration
	breakerSet       bool
	autoDisable      time.Duration
	autoDisableSet   bool
	onStatusChange   func(StatusChange)
	maxPayload       int
}

// DefaultWorkers is the number of attempts to promptly answering endpoints a Dispatcher
// has in flight at most, unless WithWorkers says otherwise.
const DefaultWorkers = 32

// DefaultUserAgent is the User-Agent of every request unless WithUserAgent says otherwise.
const DefaultUserAgent = "shophooks-webhook/1 (+https://github.com/shophooks/webhook)"

// WithHTTPClient sends requests with c instead of a client of the dispatcher's own. The
// dispatcher uses a shallow copy: redirects are never followed, whatever c.CheckRedirect
// says, and unless AllowPrivateNetworks is given the destination guard is put in front of
// c's transport (an *http.Transport is cloned with a guarded dialer; any other
// RoundTripper is wrapped, and refuses literal internal addresses only: build such
// transports on SafeDialer, with no proxy, to keep the full guard; a proxy, such as
// http.ProxyFromEnvironment's, resolves names on its own side, where no guard looks at
// the address). Attempts are bounded by the retry
// policy's Timeout through their context; c.Timeout, if set, applies as well.
func WithHTTPClient(c *http.Client) Option { return func(cfg *config) { cfg.client = c } }

// WithRetryPolicy replaces DefaultRetryPolicy. New refuses an invalid policy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(cfg *config) { cfg.policy, cfg.policySet = p, true }
}

// WithWorkers sets how many attempts may be in flight at once to endpoints that answer
// promptly (DefaultWorkers); 0 means DefaultWorkers, and New refuses n < 0. An attempt
// still waiting for its endpoint after 200 ms gives up its place to the next one and
// waits in a slow lane of up to 16 × n attempts, so that endpoints that hang or answer
// slowly cannot hold up the deliveries to those that answer at once.
func WithWorkers(n int) Option { return func(cfg *config) { cfg.workers = n } }

// WithLogger logs the dispatcher's work to l (attempts at Debug, failures at Warn, store
// errors at Error). Secrets, subscription headers and URL query strings are never logged.
// The default discards everything.
func WithLogger(l *slog.Logger) Option { return func(cfg *config) { cfg.logger = l } }

// WithCatalog validates event types against c instead of eventtypes.Default(): an
// application registers its own types there.
func WithCatalog(c *eventtypes.Catalog) Option { return func(cfg *config) { cfg.catalog = c } }

// WithObserver calls fn after every attempt, real or test, once it is recorded: the hook
// for exporting metrics. fn is called from the delivery workers, concurrently: it must be
// safe for concurrent use and quick.
func WithObserver(fn func(AttemptResult)) Option { return func(cfg *config) { cfg.observer = fn } }

// WithSigner signs requests with s instead of the Standard Webhooks signer.
func WithSigner(s Signer) Option { return func(cfg *config) { cfg.signer = s } }

// AllowPrivateNetworks turns the destination guard off: subscriptions may reach loopback,
// private, link-local and other internal addresses. For development and tests only.
func AllowPrivateNetworks() Option { return func(cfg *config) { cfg.allowPrivate = true } }

// RequireHTTPS refuses subscriptions with an http:// URL at Subscribe, and refuses to send
// to one at delivery time (for subscriptions stored before the option was set).
func RequireHTTPS() Option { return func(cfg *config) { cfg.requireHTTPS = true } }

// WithUserAgent sets the User-Agent header of every request (DefaultUserAgent).
func WithUserAgent(ua string) Option { return func(cfg *config) { cfg.userAgent = ua } }

// EmitOption configures one Emit.
type EmitOption func(*emitConfig)

type emitConfig struct {
	id        string
	workspace string
	tx        store.EventInserter
}

// WithTx stores the event through tx instead of the dispatcher's store: with a store that
// can join the application's database transaction (storepg: st.Tx(pgxTx)), the event is
// committed, and sent, if and only if that transaction commits; nothing is sent before
// the commit. Emit does not commit or roll back tx.
func WithTx(tx store.EventInserter) EmitOption { return func(c *emitConfig) { c.tx = tx } }

// InWorkspace emits the event in a workspace (a merchant, shop or tenant of the
// application): it fans out only to that workspace's subscriptions. Without it the event
// is in the default workspace, "".
func InWorkspace(workspace string) EmitOption { return func(c *emitConfig) { c.workspace = workspace } }

// DefaultMaxPayloadBytes is the largest encoded event envelope Emit accepts unless
// WithMaxPayloadBytes says otherwise: 1 MiB.
const DefaultMaxPayloadBytes = 1 << 20

// WithMaxPayloadBytes sets the largest JSON envelope ({"id","type","timestamp","data"})
// of an event that Emit accepts (DefaultMaxPayloadBytes); larger data is refused with a
// *ValidationError before anything is stored. 0 means DefaultMaxPayloadBytes; New refuses
// n < 0.
func WithMaxPayloadBytes(n int) Option { return func(cfg *config) { cfg.maxPayload = n } }

// WithEventID gives the event this ID instead of a generated one: emitting an ID that
// exists, with the same type in the same workspace, returns the stored event and creates
// nothing, so a caller can retry Emit safely. An ID that exists with another type or in
// another workspace is refused with an error matching ErrConflict.
func WithEventID(id string) EmitOption { return func(c *emitConfig) { c.id = id } }
