package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
)

// balancer stands in front of the warehouse replicas, as a deployment's load balancer
// would: the orders processes price orders at one URL, and a request goes to the next
// replica when one does not answer. Without it each orders process would depend on one
// warehouse process, and a kill of that one would stop its placements although another
// warehouse was running.
type balancer struct {
	backends []string // host:port
	next     atomic.Uint32
	srv      *http.Server
	url      string
}

func startBalancer(backends []string) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{backends: backends, url: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", "unset" },
		Transport: b,
	}
	b.srv = &http.Server{Handler: proxy}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// RoundTrip tries the replicas in turn, starting with the next one; only bodiless
// requests (the catalogue is read with GET) are sent again.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := int(b.next.Add(1))
	var errs []error
	for i := range b.backends {
		out := req.Clone(req.Context())
		out.URL.Host = b.backends[(start+i)%len(b.backends)]
		res, err := http.DefaultTransport.RoundTrip(out)
		if err == nil && res.StatusCode < 500 {
			return res, nil
		}
		if err == nil {
			if i == len(b.backends)-1 {
				return res, nil
			}
			res.Body.Close()
			err = errors.New(res.Status)
		}
		errs = append(errs, err)
		if req.Body != nil && req.Body != http.NoBody {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (b *balancer) close() { _ = b.srv.Close() }
