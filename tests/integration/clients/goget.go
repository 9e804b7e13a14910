// goget: a Go net/http client for the supervision tests and bench
// (tests/integration/test_supervisor.sh, bench/run.sh).  Every request is a
// new connection (no keep-alive); the proxy is the one the test asks for:
// none (the policy's business) or Go's own (-envproxy: HTTP_PROXY etc.).
//
//	goget [-envproxy] get URL            print the body; exit 1 on error
//	goget [-envproxy] many URL G N       G goroutines x N requests; prints
//	                                     "ok X fail Y" and the first error
//	goget [-envproxy] loop URL           one request per line read on stdin,
//	                                     prints "ok" or "err: ..." for each
//	goget [-envproxy] bench URL N        N requests in sequence; prints
//	                                     "conn/s R"
//	goget exec PROG ARG...               fork+exec PROG (a child process)
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func client(envProxy bool) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	if envProxy {
		tr.Proxy = http.ProxyFromEnvironment
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
	envProxy := false
	if len(args) > 0 && args[0] == "-envproxy" {
		envProxy = true
		args = args[1:]
	}
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: goget [-envproxy] get|many|loop|bench|exec ...")
		os.Exit(2)
	}
	c := client(envProxy)
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
			if _, err := get(c, args[1]); err != nil {
				fmt.Println("err:", err)
			} else {
				fmt.Println("ok")
			}
		}
	case "bench":
		n, _ := strconv.Atoi(args[2])
		t0 := time.Now()
		for i := 0; i < n; i++ {
			if _, err := get(c, args[1]); err != nil {
				fmt.Println("err:", err)
				os.Exit(1)
			}
		}
		fmt.Printf("conn/s %.0f\n", float64(n)/time.Since(t0).Seconds())
	case "exec":
		cmd := exec.Command(args[1], args[2:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Println("err:", err)
			os.Exit(1)
		}
	default:
		os.Exit(2)
	}
}
