package webhook_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

func TestModifySubscriptionChangesOnlyWhatFnChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe("order.*")
		rotated, err := e.d.RotateSecret(e.ctx, sub.ID, time.Hour)
		require.NoError(t, err)
		time.Sleep(time.Second)

		got, err := e.d.ModifySubscription(e.ctx, sub.ID, func(s *webhook.Subscription) error {
			s.Name = "renamed"
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, "renamed", got.Name)
		assert.Equal(t, rotated.Secret, got.Secret, "the secret set meanwhile is kept")
		assert.Equal(t, sub.Secret, got.PreviousSecret)
		assert.Equal(t, sub.CreatedAt, got.CreatedAt)
		assert.True(t, got.UpdatedAt.After(rotated.UpdatedAt))
		assert.Equal(t, sub.StatusChangedAt, got.StatusChangedAt, "no status change")

		stored, err := e.d.Subscription(e.ctx, sub.ID)
		require.NoError(t, err)
		assert.Equal(t, got, stored)
	})
}

func TestModifySubscriptionRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe("order.*")
		errMine := errors.New("not yours")
		for name, tc := range map[string]struct {
			fn    func(*webhook.Subscription) error
			field string
		}{
			"fn error":  {fn: func(s *webhook.Subscription) error { s.Name = "x"; return errMine }},
			"bad URL":   {fn: func(s *webhook.Subscription) error { s.URL = "ftp://x"; return nil }, field: "URL"},
			"ID":        {fn: func(s *webhook.Subscription) error { s.ID = "sub_other"; return nil }, field: "ID"},
			"workspace": {fn: func(s *webhook.Subscription) error { s.Workspace = "other"; return nil }, field: "Workspace"},
			"created":   {fn: func(s *webhook.Subscription) error { s.CreatedAt = s.CreatedAt.Add(-time.Hour); return nil }, field: "CreatedAt"},
		} {
			_, err := e.d.ModifySubscription(e.ctx, sub.ID, tc.fn)
			require.Error(t, err, name)
			if tc.field == "" {
				assert.ErrorIs(t, err, errMine, name)
			} else {
				var ve *webhook.ValidationError
				require.ErrorAs(t, err, &ve, name)
				assert.Equal(t, tc.field, ve.Field, name)
			}
		}
		stored, err := e.d.Subscription(e.ctx, sub.ID)
		require.NoError(t, err)
		assert.Equal(t, sub, stored, "nothing was stored")

		_, err = e.d.ModifySubscription(e.ctx, "sub_missing", func(*webhook.Subscription) error { return nil })
		assert.ErrorIs(t, err, webhook.ErrNotFound)
	})
}

func TestModifySubscriptionStatusMovesDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{
			URL: "https://hooks.example.com/in", Events: []string{"order.*"},
			Status: webhook.StatusInactive, StatusReason: "paused", WhileInactive: webhook.InactiveHold,
		})
		require.NoError(t, err)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(time.Minute)
		require.Empty(t, e.ep.requests())
		assert.Equal(t, webhook.DeliveryHeld, e.delivery(ev.ID).State)

		got, err := e.d.ModifySubscription(e.ctx, sub.ID, func(s *webhook.Subscription) error {
			s.Status = webhook.StatusActive
			return nil
		})
		require.NoError(t, err)
		assert.Empty(t, got.StatusReason, "an active subscription has no status reason")
		assert.True(t, got.StatusChangedAt.After(sub.StatusChangedAt))
		e.settle(time.Second)
		assert.Len(t, e.ep.requests(), 1, "the held delivery was released")
		assert.Equal(t, webhook.DeliverySucceeded, e.delivery(ev.ID).State)
	})
}

func TestModifySubscriptionAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe("order.*")
		require.NoError(t, e.d.Close(e.ctx))
		_, err := e.d.ModifySubscription(e.ctx, sub.ID, func(*webhook.Subscription) error { return nil })
		assert.ErrorIs(t, err, webhook.ErrClosed)
	})
}
