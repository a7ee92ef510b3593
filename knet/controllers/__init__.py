"""The control loops of `knet controller-manager`.

One module per loop. Each loop is a `Controller`: informer handlers turn changes into keys on a
work queue, and `reconcile(key)` compares what the informer caches hold with what should be and
writes the difference through the API server. The decisions themselves are pure functions next
to each controller, so they are tested without a server.
"""
