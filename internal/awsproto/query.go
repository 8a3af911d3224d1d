package awsproto

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// parseQueryForm returns the Query parameters: the URL query string followed
// by a form-encoded POST body. Parameters that do not parse are a
// MalformedQueryString error; the values parsed so far are returned with it.
func parseQueryForm(r *http.Request, body []byte) (url.Values, *wireError) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return v, errMalformedQuery("The query string could not be parsed.")
	}
	if len(body) == 0 {
		return v, checkFormUTF8(v)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/x-www-form-urlencoded" {
			return v, errMalformedQuery("The request body must be application/x-www-form-urlencoded.")
		}
	}
	bv, err := url.ParseQuery(string(body))
	if err != nil {
		return v, errMalformedQuery("The request body could not be parsed as a form.")
	}
	for k, vals := range bv {
		v[k] = append(v[k], vals...)
	}
	return v, checkFormUTF8(v)
}

// errMalformedQuery: the parameters of a Query request do not parse.
func errMalformedQuery(msg string) *wireError {
	return newWireError(http.StatusNotFound, "MalformedQueryString", msg)
}

// checkFormUTF8 refuses parameters that are not valid UTF-8 once
// percent-decoded: decoded further they would turn into U+FFFD, and two
// different names into one. AWS's Query services answer a query string they
// cannot parse with MalformedQueryString; whether AWS answers this very case
// with that code or with a ValidationError could not be checked against
// AWS here, so it is answered as the other parse failures are.
func checkFormUTF8(v url.Values) *wireError {
	for k, vals := range v {
		if !utf8.ValidString(k) {
			return errMalformedQuery("A parameter name is not valid UTF-8.")
		}
		for _, val := range vals {
			if !utf8.ValidString(val) {
				return errMalformedQuery(fmt.Sprintf("The value of parameter %s is not valid UTF-8.", k))
			}
		}
	}
	return nil
}

// decodeQuery decodes Query parameters into v; a value that does not parse
// is a ValidationError.
func decodeQuery(form url.Values, v any) error {
	if err := DecodeForm(form, v); err != nil {
		var fe *FormError
		if errors.As(err, &fe) {
			return newWireError(http.StatusBadRequest, "ValidationError", fe.Error())
		}
		return err
	}
	return nil
}

// writeQueryResult writes
//
//	<{Action}Response xmlns="ns"><{Action}Result>out</{Action}Result>
//	<ResponseMetadata><RequestId>id</RequestId></ResponseMetadata></{Action}Response>
func writeQueryResult(w http.ResponseWriter, ns, action, requestID string, out any) error {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	resp := xml.StartElement{Name: xml.Name{Local: action + "Response"}}
	if ns != "" {
		resp.Attr = []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}
	}
	result := xml.StartElement{Name: xml.Name{Local: action + "Result"}}
	if err := enc.EncodeToken(resp); err != nil {
		return err
	}
	if isNil(out) {
		if err := enc.EncodeToken(result); err != nil {
			return err
		}
		if err := enc.EncodeToken(result.End()); err != nil {
			return err
		}
	} else if err := enc.EncodeElement(out, result); err != nil {
		return err
	}
	meta := responseMetadata{RequestID: requestID}
	if err := enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return err
	}
	if err := enc.EncodeToken(resp.End()); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	buf.WriteByte('\n')
	writeBody(w, "text/xml", http.StatusOK, buf.Bytes())
	return nil
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// queryErrorResponse is the body of a Query error reply.
type queryErrorResponse struct {
	XMLName   xml.Name   `xml:"ErrorResponse"`
	Xmlns     string     `xml:"xmlns,attr,omitempty"`
	Error     queryError `xml:"Error"`
	RequestID string     `xml:"RequestId"`
}

type queryError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeQueryError(w http.ResponseWriter, we *wireError, ns, requestID string) {
	typ := "Receiver"
	if we.sender() {
		typ = "Sender"
	}
	body, _ := xml.MarshalIndent(queryErrorResponse{
		Xmlns:     ns,
		Error:     queryError{Type: typ, Code: we.code(ProtocolQuery), Message: we.message},
		RequestID: requestID,
	}, "", "  ")
	body = append(body, '\n')
	writeBody(w, "text/xml", we.status, body)
}
