package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/shophooks/webhook"
)

// maxRequestBody bounds every JSON request body.
const maxRequestBody = 1 << 20

// apiError is the JSON body of every error answer of the shops' endpoints (the webhook
// API has its own envelope). Field names the offending field of the request, in the
// request's own spelling ("line_items"), when there is one.
type apiError struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// errConflict marks a request that the resource's state does not allow (cancelling a
// fulfilled order, say): 409.
var errConflict = errors.New("conflict")

// badField is input the shop itself refuses: writeError answers it like the library's own
// validation errors, 400 with the field.
func badField(field, reason string) error {
	return &webhook.ValidationError{Field: field, Reason: reason}
}

// writeError answers err with the status it calls for: a *webhook.ValidationError is
// 400 with the field, webhook.ErrNotFound 404, webhook.ErrInactive and errConflict 409,
// webhook.ErrClosed (shutting down) 503, anything else 500 without detail.
func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	var verr *webhook.ValidationError
	switch {
	case errors.As(err, &verr):
		writeJSON(w, http.StatusBadRequest, apiError{Error: verr.Error(), Field: verr.Field, Reason: verr.Reason})
	case errors.Is(err, webhook.ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
	case errors.Is(err, webhook.ErrInactive), errors.Is(err, errConflict):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
	case errors.Is(err, webhook.ErrClosed):
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "shutting down"})
	default:
		log.Error("shop: request failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal error"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// readJSON decodes the request body into v, refusing unknown fields and trailing data.
// An empty body leaves v as it is when optional is true.
func readJSON(r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && optional {
			return nil
		}
		return &webhook.ValidationError{Field: "body", Reason: "is not the expected JSON", Err: err}
	}
	if dec.More() {
		return &webhook.ValidationError{Field: "body", Reason: "has data after the JSON value"}
	}
	return nil
}

// notFound is the error of a shop resource that does not exist; it matches
// webhook.ErrNotFound so writeError answers 404 for shop and webhook resources alike.
func notFound(kind, id string) error {
	return fmt.Errorf("%s %q: %w", kind, id, webhook.ErrNotFound)
}
