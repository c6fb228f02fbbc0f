package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shophooks/webhook"
)

// Defaults of Config.
const (
	// DefaultQueueSize is how many accepted events may wait to be processed.
	DefaultQueueSize = 1024
	// DefaultDedupSize is how many webhook IDs are remembered to drop duplicates.
	DefaultDedupSize = 100_000
	// DefaultDedupTTL is how long a webhook ID is remembered. The sender retries for
	// about 15 minutes (six attempts); a day also covers most redeliveries by hand.
	DefaultDedupTTL = 24 * time.Hour
)

// Config configures a Receiver. Zero fields take the defaults above.
type Config struct {
	// Verifier checks the signatures; it needs at least one secret.
	Verifier webhook.Verifier
	// QueueSize bounds the events waiting to be processed.
	QueueSize int
	// DedupSize and DedupTTL bound the memory of webhook IDs already accepted.
	DedupSize int
	DedupTTL  time.Duration
	// Process handles one event, in the receiver's single worker goroutine, after the
	// request was answered. Its error is logged: the sender has its 200 already.
	Process func(context.Context, Event) error
	// Logger logs processing errors and refused requests (slog.Default when nil).
	Logger *slog.Logger
}

// Event is a verified webhook as the receiver understood it.
type Event struct {
	// ID is the webhook-id header: the event ID, the same on every retry.
	ID string
	// Type is the event type, such as "order.created".
	Type string
	// Timestamp is when the event happened, as the sender says.
	Timestamp time.Time
	// Format is "json", "xml" or "query".
	Format string
	// Data is the event's data: JSON for the json format, the inner XML of <data> for
	// xml, the query string for query (the resource ID and nothing else).
	Data []byte
	// Summary is Data on one line, shortened.
	Summary string
}

// Receiver is the webhook endpoint: an http.Handler that verifies each request, drops
// duplicates, queues the event and answers at once, and a worker that processes the
// queue. Create it with NewReceiver; stop it with Close after the server has stopped.
//
// Duplicates are recognised by webhook-id, the event ID: an event is processed once per
// Receiver, even when several subscriptions deliver it to the same Receiver.
//
// Its answers, read by the sender's retry rules:
//   - 200: accepted, or a duplicate of an accepted event (so the sender stops);
//   - 401: the signature or timestamp is wrong (the sender deactivates the subscription);
//   - 400: signed but unreadable (likewise: the subscription's format is wrong);
//   - 503 with Retry-After: the queue is full or the receiver is stopping, and the
//     sender retries later.
type Receiver struct {
	handler http.Handler
	seen    *seenSet
	process func(context.Context, Event) error
	log     *slog.Logger

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan Event

	ctx    context.Context // for Process; cancelled when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{} // closed when the worker has drained the queue
}

// NewReceiver returns a Receiver whose worker is running.
func NewReceiver(cfg Config) (*Receiver, error) {
	if len(cfg.Verifier.Secrets) == 0 {
		return nil, errors.New("receiver: the verifier has no secret")
	}
	for _, s := range cfg.Verifier.Secrets {
		if err := webhook.ValidateSecret(s); err != nil {
			return nil, fmt.Errorf("receiver: %w", err)
		}
	}
	if cfg.Process == nil {
		return nil, errors.New("receiver: Process is nil")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.DedupSize <= 0 {
		cfg.DedupSize = DefaultDedupSize
	}
	if cfg.DedupTTL <= 0 {
		cfg.DedupTTL = DefaultDedupTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Receiver{
		seen:    newSeenSet(cfg.DedupSize, cfg.DedupTTL),
		process: cfg.Process,
		log:     cfg.Logger,
		queue:   make(chan Event, cfg.QueueSize),
		done:    make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.handler = cfg.Verifier.Handler(http.HandlerFunc(r.accept))
	go r.work()
	return r, nil
}

// ServeHTTP verifies, deduplicates and queues one delivery (POST with a JSON or XML
// body, or GET with query parameters).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handler.ServeHTTP(w, req)
}

// accept runs after the signature was verified.
func (r *Receiver) accept(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body) // the verified bytes, already in memory
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	ev, err := parseEvent(req, body)
	if err != nil {
		r.log.Warn("receiver: unreadable webhook", "id", ev.ID, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !r.seen.Add(ev.ID) {
		fmt.Fprintln(w, "duplicate, already accepted")
		return
	}
	if !r.enqueue(ev) {
		// Not accepted after all: a retry of it must be processed.
		r.seen.Forget(ev.ID)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "busy, try again later", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "accepted")
}

// enqueue queues ev without waiting; false if the queue is full or closed.
func (r *Receiver) enqueue(ev Event) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	select {
	case r.queue <- ev:
		return true
	default:
		return false
	}
}

// work processes the queue until Close.
func (r *Receiver) work() {
	defer close(r.done)
	for ev := range r.queue {
		if err := r.process(r.ctx, ev); err != nil {
			r.log.Error("receiver: processing an event", "id", ev.ID, "type", ev.Type, "err", err)
		}
	}
}

// Close stops accepting events (requests get 503), processes those queued, and returns
// when the worker is done. If ctx ends first, the context given to Process is cancelled
// and Close returns ctx's error without waiting further. Call it after the HTTP server
// has shut down. Calling it again waits likewise.
func (r *Receiver) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.cancel()
		return ctx.Err()
	}
}

// parseEvent reads a verified request in any of the three formats. ev.ID is set even
// when err is not nil.
func parseEvent(req *http.Request, body []byte) (Event, error) {
	ev := Event{ID: req.Header.Get(webhook.HeaderWebhookID)}
	var err error
	switch {
	case req.Method == http.MethodGet:
		ev.Format = "query"
		err = parseQuery(&ev, req.URL.Query())
	case isXML(req.Header.Get("Content-Type")):
		ev.Format = "xml"
		err = parseXML(&ev, body)
	default:
		ev.Format = "json"
		err = parseJSON(&ev, body)
	}
	if err == nil && ev.Type == "" {
		err = errors.New("the event has no type")
	}
	ev.Summary = summarize(ev.Data)
	return ev, err
}

func isXML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"))
}

// parseJSON reads {"id","type","timestamp","data"}.
func parseJSON(ev *Event, body []byte) error {
	var env struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("invalid JSON payload: %w", err)
	}
	ev.Type, ev.Timestamp, ev.Data = env.Type, env.Timestamp, env.Data
	return nil
}

// parseXML reads <webhook><id/><type/><timestamp/><data>...</data></webhook>.
func parseXML(ev *Event, body []byte) error {
	var env struct {
		XMLName   xml.Name  `xml:"webhook"`
		Type      string    `xml:"type"`
		Timestamp time.Time `xml:"timestamp"`
		Data      struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"data"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("invalid XML payload: %w", err)
	}
	ev.Type, ev.Timestamp, ev.Data = env.Type, env.Timestamp, env.Data.Inner
	return nil
}

// parseQuery reads event_type, timestamp (Unix seconds) and the <resource>_id parameter.
// The query carries no more of the data: a receiver fetches the resource by its ID.
func parseQuery(ev *Event, q url.Values) error {
	ev.Type = q.Get("event_type")
	if ts := q.Get("timestamp"); ts != "" {
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid timestamp parameter %q", ts)
		}
		ev.Timestamp = time.Unix(sec, 0)
	}
	rest := url.Values{}
	for k, v := range q {
		if k != "event_type" && k != "event_id" && k != "timestamp" {
			rest[k] = v
		}
	}
	ev.Data = []byte(rest.Encode())
	return nil
}

// summarize puts data on one line, at most 200 bytes of it.
func summarize(data []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, data) == nil {
		data = buf.Bytes()
	}
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
