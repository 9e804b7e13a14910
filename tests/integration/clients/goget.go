// goget: a Go net/http client for the supervision tests and bench
// (tests/integration/test_supervisor.sh, bench/run.sh).  Every request is a
// new connection (no keep-alive); the proxy is the one the caller asks for:
// none (the policy's business) or Go's own proxy support (-proxy URL:
// http.ProxyURL, socks5:// or http://; unlike ProxyFromEnvironment it
// proxies loopback destinations too).
//
//	goget [-proxy URL] get URL         print the body; exit 1 on error
//	goget [-proxy URL] many URL G N    G goroutines x N requests; prints
//	                                   "ok X fail Y" and the first error
//	goget [-proxy URL] loop URL        one request per line read on stdin,
//	                                   prints "ok BODY" or "err: ..." for each
//	goget [-proxy URL] bench URL N [PEER]  N requests in sequence, each
//	                                   body holding "peer=PEER" when given
//	                                   (bench/origin); prints "conn/s R"
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func client(proxy string) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goget: -proxy:", err)
			os.Exit(2)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

func main() {
	args := os.Args[1:]
	proxy := ""
	if len(args) > 1 && args[0] == "-proxy" {
		proxy = args[1]
		args = args[2:]
	}
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: goget [-proxy URL] get|many|loop|bench ...")
		os.Exit(2)
	}
	c := client(proxy)
	switch args[0] {
	case "get":
		body, err := get(c, args[1])
		if err != nil {
			fmt.Println("err:", err)
			os.Exit(1)
		}
		fmt.Print(body)
	case "many":
		g, _ := strconv.Atoi(args[2])
		n, _ := strconv.Atoi(args[3])
		var ok, bad int64
		var first atomic.Value
		var wg sync.WaitGroup
		for i := 0; i < g; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < n; j++ {
					if _, err := get(c, args[1]); err != nil {
						atomic.AddInt64(&bad, 1)
						first.CompareAndSwap(nil, err.Error())
					} else {
						atomic.AddInt64(&ok, 1)
					}
				}
			}()
		}
		wg.Wait()
		fmt.Printf("ok %d fail %d\n", ok, bad)
		if e := first.Load(); e != nil {
			fmt.Println("first error:", e)
		}
	case "loop":
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			if body, err := get(c, args[1]); err != nil {
				fmt.Println("err:", err)
			} else {
				fmt.Println("ok", strings.TrimSpace(body))
			}
		}
	case "bench":
		n, _ := strconv.Atoi(args[2])
		want := ""
		if len(args) > 3 {
			want = "peer=" + args[3] + "\n"
		}
		t0 := time.Now()
		for i := 0; i < n; i++ {
			body, err := get(c, args[1])
			if err != nil {
				fmt.Println("err:", err)
				os.Exit(1)
			}
			if want != "" && !strings.Contains(body, want) {
				fmt.Printf("err: want %q, got %q\n", want, body)
				os.Exit(1)
			}
		}
		fmt.Printf("conn/s %.0f\n", float64(n)/time.Since(t0).Seconds())
	default:
		os.Exit(2)
	}
}
