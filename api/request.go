package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// readBody decodes the request's JSON body into v, refusing unknown fields, wrong types
// and trailing data, with the field named. An empty body leaves v as it is when optional
// is true, and is refused otherwise.
func readBody(r *http.Request, v any, optional bool) error {
	raw, err := io.ReadAll(r.Body) // bounded by MaxBodyBytes in ServeHTTP
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badInput("body", "could not be read")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if optional {
			return nil
		}
		return badInput("body", "is empty: a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badInput("body", "has data after the JSON object")
	}
	return nil
}

// decodeError names the field a JSON decoding error is about.
func decodeError(err error) error {
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return badInput("body", "must be a JSON object")
		}
		return badInput(te.Field, "must be %s, not a JSON %s", jsonType(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return badInput("body", "is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badInput("body", "is cut short: not valid JSON")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f, err := strconv.Unquote(name); err == nil {
			return &inputError{field: f, message: fmt.Sprintf("%s is not a field of this request", strconv.Quote(toValidUTF8(truncate(f, 100))))}
		}
	}
	return badInput("body", "is not the expected JSON")
}

// jsonType names a Go kind as JSON calls it.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	}
	return "another type"
}

// query is a request's query string, checked against the parameters a route takes.
type query struct{ v url.Values }

// parseQuery refuses parameters the route does not take (a typo would otherwise be
// ignored in silence) and parameters given twice. prefixes allow families of
// parameters, such as "metadata[".
func parseQuery(r *http.Request, names []string, prefixes ...string) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, badInput("query", "cannot be parsed")
	}
next:
	for k, vals := range v {
		if len(vals) > 1 {
			return query{}, badInput(safeName(k), "is given more than once")
		}
		for _, n := range names {
			if k == n {
				continue next
			}
		}
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				continue next
			}
		}
		return query{}, &inputError{field: safeName(k), message: fmt.Sprintf("%s is not a parameter of this route", strconv.Quote(safeName(k)))}
	}
	return query{v}, nil
}

func safeName(s string) string { return toValidUTF8(truncate(s, 100)) }

func (q query) get(name string) string { return q.v.Get(name) }

// limit reads the page size: def when absent, 1 to max otherwise.
func (q query) limit(def, max int) (int, error) {
	s := q.v.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, badInput("limit", "must be an integer from 1 to %d", max)
	}
	return n, nil
}

// time reads an RFC 3339 time; zero when absent.
func (q query) time(name string) (time.Time, error) {
	s := q.v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, badInput(name, "must be an RFC 3339 time such as 2025-01-31T12:00:00Z")
	}
	return t, nil
}

// metadata reads metadata[key]=value parameters.
func (q query) metadata() (map[string]string, error) {
	var md map[string]string
	for k, vals := range q.v {
		key, ok := strings.CutPrefix(k, "metadata[")
		if !ok {
			continue
		}
		key, ok = strings.CutSuffix(key, "]")
		if !ok || key == "" {
			return nil, badInput(safeName(k), "must be written metadata[key]=value")
		}
		if md == nil {
			md = make(map[string]string)
		}
		md[key] = vals[0]
	}
	return md, nil
}

// Cursors are opaque to clients: base64url of what locates the last item of a page.

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", badInput("cursor", "is not a cursor this API gave")
	}
	return string(b), nil
}

// setNext announces the next page: its cursor in Next-Cursor, and its URL, relative to
// the request's (so it holds under any mount prefix), in Link.
func setNext(w http.ResponseWriter, r *http.Request, cursor string) {
	v := r.URL.Query()
	v.Set("cursor", cursor)
	w.Header().Set("Next-Cursor", cursor)
	w.Header().Set("Link", "<?"+v.Encode()+`>; rel="next"`)
}
