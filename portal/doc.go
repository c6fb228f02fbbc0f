// Package portal is the merchant's webhook admin screens as an http.Handler: a dashboard
// of the workspace's webhooks with search and a status filter, forms to create and edit
// them, each webhook's status, health figures and recent deliveries (with redeliver,
// recover and send test), and the event catalog. Pages are rendered on the server from
// embedded templates, need no external assets, work without JavaScript and at phone width.
//
// The application mounts it under any prefix, behind its own authentication, which says
// which workspace the request may see:
//
//	h := portal.New(d, portal.WithAuth(func(r *http.Request) (string, error) {
//		m, err := merchantFromSession(r) // the application's own login
//		if err != nil {
//			return "", err
//		}
//		return m.ShopID, nil // the workspace the merchant's webhooks live in
//	}))
//	mux.Handle("/admin/webhooks/", http.StripPrefix("/admin/webhooks", h))
//
// A platform without a merchant login of its own can hand out sign-in links instead,
// as Svix's App Portal does: a Linker signs single-use links that start a short session.
//
//	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key)
//	h := portal.New(d, portal.WithLinker(links))
//	url, err := links.Link("shop_42", 15*time.Minute) // e-mail it, or redirect to it
//
// A handler with neither option refuses every request: the portal is never open by
// default. Every page shows only the signed-in workspace's webhooks and deliveries; a
// request for another workspace's webhook gets the same "not found" page as one for a
// webhook that does not exist. Secrets are shown once, in the answer that created or
// rotated them, and authentication header values never. State-changing requests are
// POSTs guarded against cross-site requests by http.CrossOriginProtection.
package portal
