package lb

import (
	"net/http"
	"strconv"
)

// errorPage is ALB's small HTML body for an error the load balancer
// itself answers (502, 503, 504, 500 ...).
func errorPage(code int) []byte {
	if p, ok := pages[code]; ok {
		return p
	}
	return buildPage(code)
}

var pages = func() map[int][]byte {
	m := map[int][]byte{}
	for _, c := range []int{400, 404, 500, 502, 503, 504} {
		m[c] = buildPage(c)
	}
	return m
}()

func buildPage(code int) []byte {
	title := strconv.Itoa(code) + " " + http.StatusText(code)
	return []byte("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" +
		title + "</h1></center>\r\n</body>\r\n</html>\r\n")
}

// writeError answers with an ALB-style error page.
func writeError(w http.ResponseWriter, code int) {
	body := errorPage(code)
	h := w.Header()
	h.Set("Server", "awselb/2.0")
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
