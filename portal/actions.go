package portal

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/shophooks/webhook"
)

// deactivatedReason is the status reason of a webhook a merchant deactivated here.
const deactivatedReason = "deactivated in the portal"

// test sends a sample event of one type, or of each of the webhook's types, and answers
// with the webhook's page showing each test's result.
func (h *handler) test(w http.ResponseWriter, r *http.Request, s session) {
	sub, err := h.subscription(r.Context(), s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	var types []string
	if t := r.PostFormValue("type"); t != "" {
		if !slices.Contains(h.d.Catalog().Expand(sub.Events...), t) {
			h.message(w, r, s, http.StatusBadRequest, "Not accepted",
				"This webhook does not receive that event type, so it cannot be tested with it.", rootOf(r)+"webhooks/"+pathEscape(sub.ID))
			return
		}
		types = []string{t}
	}
	rep, err := h.d.Test(r.Context(), sub.ID, types...)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	rv := reportViewOf(rep)
	h.showPage(w, r, s, sub, &rv, "")
}

func (h *handler) activate(w http.ResponseWriter, r *http.Request, s session) {
	h.setStatus(w, r, s, true)
}

func (h *handler) deactivate(w http.ResponseWriter, r *http.Request, s session) {
	h.setStatus(w, r, s, false)
}

// setStatus activates or deactivates, then goes back to the list or the webhook's page,
// as the form's "next" says.
func (h *handler) setStatus(w http.ResponseWriter, r *http.Request, s session, active bool) {
	ctx := r.Context()
	sub, err := h.subscription(ctx, s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	done := "activated"
	if active {
		err = h.d.Activate(ctx, sub.ID)
	} else {
		done = "deactivated"
		err = h.d.Deactivate(ctx, sub.ID, deactivatedReason)
	}
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	if r.PostFormValue("next") == "list" {
		seeOther(w, r, "?done="+done)
		return
	}
	seeOther(w, r, "webhooks/"+pathEscape(sub.ID)+"?done="+done)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	sub, err := h.subscription(ctx, s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	if err := h.d.Unsubscribe(ctx, sub.ID); err != nil {
		h.fail(w, r, s, err)
		return
	}
	seeOther(w, r, "?done=deleted")
}

// rotationOverlaps are the choices of how long the old secret keeps signing.
var rotationOverlaps = []struct {
	value string
	label string
	d     time.Duration
}{
	{"0", "Stop at once", 0},
	{"1h", "For 1 hour", time.Hour},
	{"24h", "For 24 hours", 24 * time.Hour},
	{"168h", "For 7 days", 7 * 24 * time.Hour},
}

// secretView is the one answer that shows a signing secret: after creating a webhook or
// rotating its secret.
type secretView struct {
	Created       bool
	Sub           subView
	Secret        string
	PreviousUntil time.Time
}

func (h *handler) rotateSecret(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	overlap, ok := time.Duration(0), false
	for _, o := range rotationOverlaps {
		if o.value == r.PostFormValue("overlap") {
			overlap, ok = o.d, true
		}
	}
	if !ok {
		h.message(w, r, s, http.StatusBadRequest, "Not accepted", "Choose how long the old secret keeps signing.", "")
		return
	}
	sub, err := h.subscription(ctx, s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	rotated, err := h.d.RotateSecret(ctx, sub.ID, overlap)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v := secretView{Sub: viewOf(rotated, time.Now()), Secret: rotated.Secret}
	v.PreviousUntil = v.Sub.PreviousSecretUntil
	h.render(w, r, s, http.StatusOK, "secret", layout{Title: "New signing secret", Nav: "webhooks", Page: v})
}

// recoverFailures sends again every failed delivery of the webhook since the chosen time.
func (h *handler) recoverFailures(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	var since time.Time
	for _, p := range recoverPeriods {
		if p.value == r.PostFormValue("since") {
			since = time.Now().Add(-p.d)
		}
	}
	if since.IsZero() {
		h.message(w, r, s, http.StatusBadRequest, "Not accepted", "Choose since when failed deliveries are sent again.", "")
		return
	}
	sub, err := h.subscription(ctx, s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	n, err := h.d.Recover(ctx, sub.ID, since)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	seeOther(w, r, "webhooks/"+pathEscape(sub.ID)+"?done=recovered&n="+strconv.Itoa(n))
}

// redeliver sends one delivery again; the delivery must be the webhook's, in the
// session's workspace.
func (h *handler) redeliver(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	sub, err := h.subscription(ctx, s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	del, err := h.d.Delivery(ctx, r.PathValue("delivery"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	if del.Workspace != s.Workspace || del.SubscriptionID != sub.ID {
		h.notFound(w, r, s)
		return
	}
	if err := h.d.Redeliver(ctx, del.ID); err != nil {
		h.fail(w, r, s, err)
		return
	}
	seeOther(w, r, "webhooks/"+pathEscape(sub.ID)+"?done=redelivered")
}

// fieldMessage says what is wrong with a refused input, for a person: the value when it
// is safe to show, then the reason.
func fieldMessage(ve *webhook.ValidationError) string {
	switch {
	case ve.Field == "Events" && ve.Value == "":
		return "Choose at least one event."
	case ve.Field == "URL" && ve.Reason == "is empty":
		return "Enter the URL the events are sent to."
	case ve.Value != "":
		return strconv.Quote(ve.Value) + " " + ve.Reason + "."
	}
	return upperFirst(ve.Reason) + "."
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
