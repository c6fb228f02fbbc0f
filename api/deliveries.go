package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/shophooks/webhook"
)

// deliveryOf returns delivery id of workspace ws; one of another workspace is not found,
// as a missing one.
func (h *handler) deliveryOf(ctx context.Context, ws, id string) (webhook.Delivery, error) {
	d, err := h.d.Delivery(ctx, id)
	if err != nil {
		return webhook.Delivery{}, notFound(err, "delivery", id)
	}
	if d.Workspace != ws {
		return webhook.Delivery{}, &notFoundError{kind: "delivery", id: id}
	}
	return d, nil
}

// deliveryQuery reads the filters and paging of a delivery list. The cursor must name a
// delivery of ws, so that a cursor cannot tell anything of another workspace.
func (h *handler) deliveryQuery(r *http.Request, ws string, extra ...string) (webhook.DeliveryQuery, query, error) {
	q, err := parseQuery(r, append([]string{"state", "since", "until", "limit", "cursor"}, extra...))
	if err != nil {
		return webhook.DeliveryQuery{}, q, err
	}
	dq := webhook.DeliveryQuery{Workspace: ws, State: webhook.DeliveryState(q.get("state"))}
	switch dq.State {
	case "", webhook.DeliveryPending, webhook.DeliveryHeld, webhook.DeliverySucceeded, webhook.DeliveryFailed, webhook.DeliveryCancelled:
	default:
		return dq, q, badInput("state", `must be "pending", "held", "succeeded", "failed" or "cancelled"`)
	}
	if dq.Since, err = q.time("since"); err != nil {
		return dq, q, err
	}
	if dq.Until, err = q.time("until"); err != nil {
		return dq, q, err
	}
	if dq.Limit, err = q.limit(defaultPage, maxPage); err != nil {
		return dq, q, err
	}
	if c := q.get("cursor"); c != "" {
		id, err := decodeCursor(c)
		if err != nil {
			return dq, q, err
		}
		if _, err := h.deliveryOf(r.Context(), ws, id); err != nil {
			if errors.Is(err, webhook.ErrNotFound) {
				return dq, q, badInput("cursor", "names no delivery of this workspace any more: start again without it")
			}
			return dq, q, err
		}
		dq.Before = id
	}
	return dq, q, nil
}

// page lists the deliveries dq selects and announces the next page when it is full.
func (h *handler) page(w http.ResponseWriter, r *http.Request, ws string, dq webhook.DeliveryQuery) ([]webhook.Delivery, error) {
	ds, err := h.d.Deliveries(r.Context(), dq)
	if err != nil {
		return nil, err
	}
	if len(ds) == dq.Limit && len(ds) > 0 {
		setNext(w, r, encodeCursor(ds[len(ds)-1].ID))
	}
	// The store's answer is checked too: only ws's deliveries leave.
	kept := make([]webhook.Delivery, 0, len(ds))
	for _, d := range ds {
		if d.Workspace == ws {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// webhookDeliveries is the log of one webhook, newest first. It stays readable after the
// webhook is deleted, until retention prunes it.
func (h *handler) webhookDeliveries(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	dq, _, err := h.deliveryQuery(r, ws)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	dq.SubscriptionID = id
	ds, err := h.page(w, r, ws, dq)
	if err != nil {
		return 0, nil, err
	}
	if len(ds) == 0 && dq.Before == "" {
		// No log here: 404 unless the webhook is ws's.
		if _, err := h.webhookOf(r.Context(), ws, id); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, newDeliveryViews(ds), nil
}

// listDeliveries is the log of a workspace, newest first, by webhook, event, state and
// time.
func (h *handler) listDeliveries(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	dq, q, err := h.deliveryQuery(r, ws, "webhook_id", "event_id")
	if err != nil {
		return 0, nil, err
	}
	dq.SubscriptionID, dq.EventID = q.get("webhook_id"), q.get("event_id")
	ds, err := h.page(w, r, ws, dq)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newDeliveryViews(ds), nil
}

func (h *handler) getDelivery(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	d, err := h.deliveryOf(r.Context(), ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newDeliveryView(d), nil
}

// redeliver sends a delivery again at once, with a fresh round of retries; it answers
// the delivery as it stands then (pending, or already done).
func (h *handler) redeliver(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	if err := readBody(r, &struct{}{}, true); err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	d, err := h.deliveryOf(r.Context(), ws, id)
	if err != nil {
		return 0, nil, err
	}
	if err := h.d.Redeliver(r.Context(), id); err != nil {
		if errors.Is(err, webhook.ErrNotFound) {
			if _, serr := h.d.Subscription(r.Context(), d.SubscriptionID); errors.Is(serr, webhook.ErrNotFound) {
				return 0, nil, &conflictError{code: "webhook_deleted", message: "the delivery's webhook was deleted: nothing to send it to"}
			}
		}
		return 0, nil, notFound(err, "delivery", id)
	}
	if d, err = h.deliveryOf(r.Context(), ws, id); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, newDeliveryView(d), nil
}
