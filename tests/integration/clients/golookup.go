// golookup: Go's own resolver (no cgo, GODEBUG=netdns=go) looking names
// up, for test_dnsstub.sh: the DNS stub answers it the way the library
// answers getaddrinfo() (docs/behaviour.md#names-for-static-and-go-programs).
//
//	golookup NAME...   one line per name: "NAME ADDR..." (sorted), or
//	                   "NAME error: ..."; each lookup bounded by 10 s
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
	for _, name := range os.Args[1:] {
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
