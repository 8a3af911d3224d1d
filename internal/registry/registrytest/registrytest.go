// Package registrytest speaks the registry HTTP API (OCI distribution) as
// docker does, for tests and benchmarks that need images in a registry
// without Docker: random images, blob uploads, manifest puts and pulls.
package registrytest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Media types of the images NewImage makes.
const (
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
)

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// Image is a manifest and the blobs it names (the config first).
type Image struct {
	Manifest []byte
	Digest   digest.Digest
	Blobs    [][]byte
}

// NewImage makes an image of random layers of the given sizes; every
// image is different (its config holds a nonce).
func NewImage(layerSizes ...int) Image {
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"nonce":%q}`, rand.Text()))
	m := Manifest{SchemaVersion: 2, MediaType: MediaTypeManifest,
		Config: Descriptor{MediaTypeConfig, digest.FromBytes(cfg), int64(len(cfg))}, Layers: []Descriptor{}}
	img := Image{Blobs: [][]byte{cfg}}
	for _, n := range layerSizes {
		l := make([]byte, n)
		_, _ = rand.Read(l)
		img.Blobs = append(img.Blobs, l)
		m.Layers = append(m.Layers, Descriptor{MediaTypeLayer, digest.FromBytes(l), int64(n)})
	}
	return img.WithManifest(m)
}

// WithManifest returns img with m as its manifest.
func (img Image) WithManifest(m Manifest) Image {
	img.Manifest, _ = json.Marshal(m)
	img.Digest = digest.FromBytes(img.Manifest)
	return img
}

// ParseManifest reads img's manifest.
func (img Image) ParseManifest() Manifest {
	var m Manifest
	_ = json.Unmarshal(img.Manifest, &m)
	return m
}

// Client is a registry client with Basic credentials ("" user: none).
type Client struct {
	Base       string // http://host:port
	User, Pass string
	HTTP       *http.Client // nil: http.DefaultClient
}

// Do sends one request (path is a /v2/ path or a whole URL) and returns
// the response with its body read.
func (c *Client) Do(method, path string, body io.Reader, header map[string]string) (*http.Response, []byte, error) {
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.Base + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, nil, err
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Pass)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// PushBlob uploads data to repo unless the registry has it already (the
// HEAD docker sends first), and returns its digest.
func (c *Client) PushBlob(repo string, data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	resp, _, err := c.Do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusOK {
		return d, nil
	}
	resp, b, err := c.Do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("start upload to %s: %d %s", repo, resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, b, err = c.Do(http.MethodPut, loc+sep+"digest="+d.String(), bytes.NewReader(data), map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("finish upload to %s: %d %s", repo, resp.StatusCode, b)
	}
	return d, nil
}

// PushStream uploads a blob of digest d and size bytes read from r as
// docker does: POST to start an upload, one PATCH streaming the whole
// blob, PUT with the digest to commit it. It does not check first whether
// the registry has the blob.
func (c *Client) PushStream(repo string, d digest.Digest, size int64, r io.Reader) error {
	resp, b, err := c.Do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload to %s: %d %s", repo, resp.StatusCode, b)
	}
	loc := c.absolute(resp.Header.Get("Location"))
	req, err := http.NewRequest(http.MethodPatch, loc, r)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Pass)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	presp, err := hc.Do(req)
	if err != nil {
		return err
	}
	pb, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	if presp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("upload to %s: %d %s", repo, presp.StatusCode, pb)
	}
	loc = c.absolute(presp.Header.Get("Location"))
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, b, err = c.Do(http.MethodPut, loc+sep+"digest="+d.String(), nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("commit upload to %s: %d %s", repo, resp.StatusCode, b)
	}
	return nil
}

// absolute makes a Location header absolute.
func (c *Client) absolute(loc string) string {
	if strings.HasPrefix(loc, "/") {
		return c.Base + loc
	}
	return loc
}

// PullBlob streams blob d of repo to w, checking its digest, and returns
// the bytes read.
func (c *Client) PullBlob(repo string, d digest.Digest, w io.Writer) (int64, error) {
	return c.pullBlob(repo, d, w)
}

// PutManifest puts a manifest under ref (a tag or digest) and returns the
// status and body of the answer.
func (c *Client) PutManifest(repo, ref, mediaType string, manifest []byte) (int, string, error) {
	resp, b, err := c.Do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(manifest), map[string]string{"Content-Type": mediaType})
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), nil
}

// Push uploads img's blobs and puts its manifest under ref, returning the
// manifest put's status and body.
func (c *Client) Push(repo, ref string, img Image) (int, string, error) {
	for _, b := range img.Blobs {
		if _, err := c.PushBlob(repo, b); err != nil {
			return 0, "", err
		}
	}
	return c.PutManifest(repo, ref, MediaTypeManifest, img.Manifest)
}

// Pull fetches ref's manifest and every blob it names, and returns the
// bytes read.
func (c *Client) Pull(repo, ref string) (int64, error) {
	resp, b, err := c.Do(http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, map[string]string{"Accept": MediaTypeManifest})
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("pull manifest %s:%s: %d %s", repo, ref, resp.StatusCode, b)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, err
	}
	n := int64(len(b))
	for _, d := range append([]Descriptor{m.Config}, m.Layers...) {
		got, err := c.pullBlob(repo, d.Digest, io.Discard)
		n += got
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// pullBlob streams one blob to w, checking its digest.
func (c *Client) pullBlob(repo string, d digest.Digest, w io.Writer) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, c.Base+"/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return 0, err
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Pass)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	v := d.Verifier()
	n, err := io.Copy(io.MultiWriter(v, w), resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK || !v.Verified() {
		return n, fmt.Errorf("pull blob %s: %d (%d bytes)", d, resp.StatusCode, n)
	}
	return n, nil
}

// ErrorCode is the first registry error code of an error body.
func ErrorCode(body string) string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}
