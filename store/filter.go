package store

import (
	"strings"

	"github.com/shophooks/webhook/eventtypes"
)

// Wants reports whether the subscription's Events select an event of type eventType.
func (s Subscription) Wants(eventType string) bool {
	for _, p := range s.Events {
		if eventtypes.Match(p, eventType) {
			return true
		}
	}
	return false
}

// Match reports whether the filter selects the subscription. Every store uses it, so the
// filter means the same everywhere.
func (f SubscriptionFilter) Match(s Subscription) bool {
	if f.Workspace != "" && s.Workspace != f.Workspace {
		return false
	}
	if f.Status != "" && s.Status != f.Status {
		return false
	}
	for k, v := range f.Metadata {
		if got, ok := s.Metadata[k]; !ok || got != v {
			return false
		}
	}
	if f.URL != "" && !strings.Contains(s.URL, f.URL) {
		return false
	}
	if f.Query != "" {
		q := strings.ToLower(f.Query)
		if !strings.Contains(strings.ToLower(s.Name), q) && !strings.Contains(strings.ToLower(s.URL), q) {
			return false
		}
	}
	if f.Resource != "" && !s.anyPattern(func(res, _ string) bool { return res == "*" || res == f.Resource }) {
		return false
	}
	if f.Event != "" {
		if strings.Contains(f.Event, ".") {
			if !s.Wants(f.Event) {
				return false
			}
		} else if !s.anyPattern(func(_, act string) bool { return act == "*" || act == f.Event }) {
			return false
		}
	}
	return true
}

// anyPattern reports whether fn holds for the resource and action of one of the
// subscription's patterns ("*" has resource and action "*"; "*.created" resource "*";
// "order.created.v2" action "created").
func (s Subscription) anyPattern(fn func(resource, action string) bool) bool {
	for _, p := range s.Events {
		res, act, _, ok := eventtypes.ParseName(p)
		if p == "*" {
			res, act, ok = "*", "*", true
		}
		if ok && fn(res, act) {
			return true
		}
	}
	return false
}
