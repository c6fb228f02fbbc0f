package portal

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shophooks/webhook"
)

// formView is the create and edit form.
type formView struct {
	New     bool
	Sub     subView // on edit: the stored webhook (no secret, no header values)
	Name    string
	URL     string
	Active  bool // on create
	All     bool // "*": every event, present and future
	Groups  []formGroup
	Headers []headerRow
	Formats []choice
	// Policies are what happens to events while the webhook is inactive.
	Policies []choice
	Overlaps []choice // how long a rotated-out secret keeps signing
	// Retype says the form comes back refused with new headers, whose values the merchant
	// must type again.
	Retype bool
	// Errors are the messages shown next to their fields: "name", "url", "events",
	// "headers", "format", "while_inactive"; General holds the others.
	Errors  map[string]string
	General []string
}

type formGroup struct {
	Resource string
	Label    string
	All      bool // "resource.*"
	Types    []formType
}

type formType struct {
	ID          string
	Name        string
	Action      string
	Description string
	Checked     bool
}

// headerRow is one authentication header of the form. Values are write-only: a stored
// header shows its name only, and an empty value keeps the stored one.
type headerRow struct {
	Index    int
	Name     string
	Existing bool
	Remove   bool
}

// formInput is what the form posted.
type formInput struct {
	Name          string
	URL           string
	Active        bool
	Events        []string
	StoredNames   []string // the stored headers the form listed
	StoredValues  []string // "" keeps the stored value
	Remove        []string
	NewNames      []string
	NewValues     []string
	Format        string
	WhileInactive string
}

func parseForm(r *http.Request) (formInput, error) {
	if err := r.ParseForm(); err != nil {
		return formInput{}, &webhook.ValidationError{Field: "form", Reason: "could not be read", Err: err}
	}
	f := r.PostForm
	return formInput{
		Name:          strings.TrimSpace(f.Get("name")),
		URL:           strings.TrimSpace(f.Get("url")),
		Active:        f.Get("active") != "",
		Events:        f["events"],
		StoredNames:   f["stored_header"],
		StoredValues:  f["stored_value"],
		Remove:        f["remove_header"],
		NewNames:      f["header_name"],
		NewValues:     f["header_value"],
		Format:        f.Get("format"),
		WhileInactive: f.Get("while_inactive"),
	}, nil
}

// events returns the chosen event patterns: "*" alone when chosen, and no type of a
// resource whose "resource.*" is chosen.
func (in formInput) events() []string {
	var out []string
	seen := make(map[string]bool)
	for _, e := range in.Events {
		if e = strings.TrimSpace(e); e != "" && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	if seen["*"] {
		return []string{"*"}
	}
	return slices.DeleteFunc(out, func(e string) bool {
		res, act, _ := strings.Cut(e, ".")
		return act != "*" && seen[res+".*"]
	})
}

// headers merges the form's headers with the stored ones; the message says what is wrong
// with them, for the field.
func (in formInput) headers(stored map[string]string) (map[string]string, string) {
	out := make(map[string]string)
	canon := make(map[string]bool)
	for i, name := range in.StoredNames {
		cur, ok := stored[name]
		if !ok || slices.Contains(in.Remove, name) {
			continue
		}
		if i < len(in.StoredValues) && strings.TrimSpace(in.StoredValues[i]) != "" {
			cur = strings.TrimSpace(in.StoredValues[i])
		}
		out[name] = cur
		canon[http.CanonicalHeaderKey(name)] = true
	}
	for i, name := range in.NewNames {
		name = strings.TrimSpace(name)
		value := ""
		if i < len(in.NewValues) {
			value = strings.TrimSpace(in.NewValues[i])
		}
		switch {
		case name == "" && value == "":
			continue
		case name == "":
			return nil, "Give each header value a header name."
		case value == "":
			return nil, fmt.Sprintf("Give the header %q a value.", name)
		case canon[http.CanonicalHeaderKey(name)]:
			return nil, fmt.Sprintf("The header %q is set twice.", name)
		}
		out[name] = value
		canon[http.CanonicalHeaderKey(name)] = true
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
}

// fieldOf maps a refused Subscription field to the form field it is shown next to.
var fieldOf = map[string]string{
	"Name":          "name",
	"URL":           "url",
	"Events":        "events",
	"Headers":       "headers",
	"Format":        "format",
	"WhileInactive": "while_inactive",
}

// newFormView builds the form for the given values; stored are the headers already
// stored (on edit), listed by name.
func (h *handler) newFormView(isNew bool, in formInput, stored map[string]string) formView {
	v := formView{New: isNew, Name: in.Name, URL: in.URL, Active: in.Active, Errors: map[string]string{}}
	chosen := make(map[string]bool)
	for _, e := range in.events() {
		chosen[e] = true
	}
	v.All = chosen["*"]
	for _, g := range groupCatalog(h.d.Catalog()) {
		fg := formGroup{Resource: g.Resource, Label: g.Label, All: chosen[g.Resource+".*"]}
		for _, t := range g.Types {
			fg.Types = append(fg.Types, formType{
				ID: "ev-" + strings.ReplaceAll(t.Name, ".", "-"), Name: t.Name, Action: t.Action,
				Description: t.Description, Checked: chosen[t.Name],
			})
		}
		v.Groups = append(v.Groups, fg)
	}
	i := 0
	for _, name := range slices.Sorted(maps.Keys(stored)) {
		v.Headers = append(v.Headers, headerRow{Index: i, Name: name, Existing: true, Remove: slices.Contains(in.Remove, name)})
		i++
	}
	for _, name := range in.NewNames {
		if name = strings.TrimSpace(name); name != "" {
			v.Headers = append(v.Headers, headerRow{Index: i, Name: name})
			i++
		}
	}
	v.Headers = append(v.Headers, headerRow{Index: i}) // room for one more
	format := webhook.Format(in.Format)
	for _, f := range []webhook.Format{webhook.FormatJSON, webhook.FormatXML, webhook.FormatQuery} {
		v.Formats = append(v.Formats, choice{Value: string(f), Label: formatLabel(f), Selected: f == format || (format == "" && f == webhook.FormatJSON)})
	}
	policy := webhook.InactivePolicy(in.WhileInactive)
	v.Policies = []choice{
		{Value: string(webhook.InactiveHold), Label: "Queue them, and send them once the webhook is active again", Selected: policy == webhook.InactiveHold},
		{Value: string(webhook.InactiveDiscard), Label: "Discard them", Selected: policy != webhook.InactiveHold},
	}
	for _, o := range rotationOverlaps {
		v.Overlaps = append(v.Overlaps, choice{Value: o.value, Label: o.label, Selected: o.value == "24h"})
	}
	return v
}

// inputOf is the form's input for a stored subscription.
func inputOf(sub webhook.Subscription) formInput {
	return formInput{
		Name: sub.Name, URL: sub.URL, Active: sub.Status == webhook.StatusActive, Events: slices.Clone(sub.Events),
		Format: string(sub.Format), WhileInactive: string(sub.WhileInactive),
	}
}

// refuse shows the form again with the error next to its field. Header values are not
// shown again: the merchant types new ones.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, s session, v formView, field, msg string) {
	for _, h := range v.Headers {
		v.Retype = v.Retype || (!h.Existing && h.Name != "")
	}
	if field == "" {
		v.General = append(v.General, msg)
	} else {
		v.Errors[field] = msg
	}
	title := "Create webhook"
	if !v.New {
		title = "Edit webhook"
	}
	h.render(w, r, s, http.StatusUnprocessableEntity, "form", layout{Title: title, Nav: "webhooks", Page: v})
}

// refuseErr shows the form again for err, when err is a *webhook.ValidationError; it
// reports whether it was.
func (h *handler) refuseErr(w http.ResponseWriter, r *http.Request, s session, v formView, err error) bool {
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	h.refuse(w, r, s, v, fieldOf[ve.Field], fieldMessage(ve))
	return true
}

func (h *handler) newForm(w http.ResponseWriter, r *http.Request, s session) {
	v := h.newFormView(true, formInput{Active: true}, nil)
	h.render(w, r, s, http.StatusOK, "form", layout{Title: "Create webhook", Nav: "webhooks", Page: v})
}

// create stores a new webhook with a generated secret, and answers with the secret: the
// only time it is shown.
func (h *handler) create(w http.ResponseWriter, r *http.Request, s session) {
	in, err := parseForm(r)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v := h.newFormView(true, in, nil)
	headers, msg := in.headers(nil)
	if msg != "" {
		h.refuse(w, r, s, v, "headers", msg)
		return
	}
	sub := webhook.Subscription{
		Workspace: s.Workspace, Name: in.Name, URL: in.URL, Events: in.events(), Headers: headers,
		Format: webhook.Format(in.Format), WhileInactive: webhook.InactivePolicy(in.WhileInactive),
		Status: webhook.StatusInactive, StatusReason: "created inactive", Secret: webhook.NewSecret(),
	}
	if in.Active {
		sub.Status, sub.StatusReason = webhook.StatusActive, ""
	}
	created, err := h.d.Subscribe(r.Context(), sub)
	if err != nil {
		if !h.refuseErr(w, r, s, v, err) {
			h.fail(w, r, s, err)
		}
		return
	}
	sv := secretView{Created: true, Sub: viewOf(created, time.Now()), Secret: created.Secret}
	h.render(w, r, s, http.StatusCreated, "secret", layout{Title: "Webhook created", Nav: "webhooks", Page: sv})
}

func (h *handler) editForm(w http.ResponseWriter, r *http.Request, s session) {
	sub, err := h.subscription(r.Context(), s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v := h.newFormView(false, inputOf(sub), sub.Headers)
	v.Sub = viewOf(sub, time.Now())
	h.render(w, r, s, http.StatusOK, "form", layout{Title: "Edit webhook", Nav: "webhooks", Page: v})
}

// update changes a webhook's name, URL, events, headers, format and while-inactive
// policy, in one store step: its status, and its secret (which a rotation may change
// meanwhile), stay as they are stored.
func (h *handler) update(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	in, err := parseForm(r)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	cur, err := h.subscription(ctx, s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v := h.newFormView(false, in, cur.Headers)
	v.Sub = viewOf(cur, time.Now())
	_, err = h.d.ModifySubscription(ctx, cur.ID, func(sub *webhook.Subscription) error {
		if sub.Workspace != s.Workspace {
			return webhook.ErrNotFound // it cannot move, but never write another workspace's
		}
		headers, msg := in.headers(sub.Headers)
		if msg != "" {
			return &fieldError{field: "headers", msg: msg}
		}
		sub.Name, sub.URL, sub.Events, sub.Headers = in.Name, in.URL, in.events(), headers
		sub.Format, sub.WhileInactive = webhook.Format(in.Format), webhook.InactivePolicy(in.WhileInactive)
		return nil
	})
	var fe *fieldError
	switch {
	case err == nil:
		seeOther(w, r, "webhooks/"+pathEscape(cur.ID)+"?done=saved")
	case errors.As(err, &fe):
		h.refuse(w, r, s, v, fe.field, fe.msg)
	case !h.refuseErr(w, r, s, v, err):
		h.fail(w, r, s, err)
	}
}

// fieldError is input the portal itself refuses, with the form field it concerns.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return "portal: " + e.field + ": " + e.msg }
