package api

import (
	_ "embed"
	"net/http"
	"slices"
	"strconv"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the API, as served at GET /openapi.json:
// every route, parameter, body and answer, with paths relative to where the application
// mounts the handler. The slice is the caller's.
func OpenAPI() []byte { return slices.Clone(openAPIDoc) }

func (h *handler) openAPI(w http.ResponseWriter, r *http.Request, _ string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	hdr.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return 0, nil, nil // answered here: the document is not in the envelope
}
