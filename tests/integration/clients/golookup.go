// golookup: Go's own resolver (no cgo, GODEBUG=netdns=go) looking names
// up, for test_dnsstub.sh: the DNS stub answers it the way the library
// answers getaddrinfo() (docs/behaviour.md#names-for-static-and-go-programs).
//
//	golookup [-tcp] NAME...   one line per name: "NAME ADDR..." (sorted),
//	                   or "NAME error: ..."; each lookup bounded by 10 s;
//	                   -tcp: every query over TCP (test_supervisor_dns.sh)
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	r := &net.Resolver{PreferGo: true}
	names := os.Args[1:]
	if len(names) > 0 && names[0] == "-tcp" {
		names = names[1:]
		// A stream conn (not a PacketConn): Go frames its queries
		// for TCP.
		r.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", address)
		}
	}
	for _, name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, err := r.LookupHost(ctx, name)
		cancel()
		if err != nil {
			fmt.Printf("%s error: %v\n", name, err)
			continue
		}
		sort.Strings(addrs)
		fmt.Printf("%s %s\n", name, strings.Join(addrs, " "))
	}
}
