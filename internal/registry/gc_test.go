package registry_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// blobThere reports whether repo serves blob d.
func (c *client) blobThere(repo string, d digest.Digest) bool {
	c.t.Helper()
	resp, _ := c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	return resp.StatusCode == http.StatusOK
}

// complete reports whether every blob of img is stored (read without
// touching them, through the manifest the registry serves).
func (e *env) complete(repo string, img image) bool {
	e.t.Helper()
	for _, b := range img.Blobs {
		if _, _, _, err := e.reg.Manifest(ctx, repo, img.Digest.String()); err != nil {
			return false
		}
		if !e.blobStored(digest.FromBytes(b)) {
			return false
		}
	}
	return true
}

// sharing returns an image whose first layer is base's first layer.
func sharing(t *testing.T, base image) image {
	t.Helper()
	img := newImage(t, 64)
	m := img.ParseManifest()
	shared := base.Blobs[1]
	m.Layers = append([]descriptor{{MediaType: ociLayer, Digest: digest.FromBytes(shared), Size: int64(len(shared))}}, m.Layers...)
	img.Blobs = append(img.Blobs, shared)
	return img.WithManifest(m)
}

func TestGarbageCollection(t *testing.T) {
	e := newEnv(t) // grace: 10 minutes
	e.createRepo("gc", "MUTABLE")
	c := e.client()
	keep := newImage(t, 100, 200)
	gone := sharing(t, keep)
	for _, img := range []image{keep, gone} {
		if code, body := c.push("gc", img.Digest.String(), img); code != http.StatusCreated {
			t.Fatalf("push: %d %s", code, body)
		}
	}
	if err := e.reg.DeleteImage(ctx, "gc", gone.Digest.String()); err != nil {
		t.Fatal(err)
	}
	goneOnly := []digest.Digest{gone.Digest, digest.FromBytes(gone.Blobs[0]), digest.FromBytes(gone.Blobs[1])}

	// Unreferenced, but only just: nothing goes.
	st, err := e.reg.CollectGarbage(ctx)
	if err != nil || st.Blobs != 0 {
		t.Fatalf("first collection: %v %+v", err, st)
	}
	// A layer someone checked recently stays: a push may be about to
	// name it.
	e.clock.advance(9 * time.Minute)
	if !c.blobThere("gc", goneOnly[2]) {
		t.Fatal("gone's layer vanished early")
	}
	e.clock.advance(2 * time.Minute)
	st, err = e.reg.CollectGarbage(ctx)
	if err != nil || st.Blobs != 2 {
		t.Fatalf("second collection: %v %+v, want the manifest and config of gone (its layer was checked 2 minutes ago)", err, st)
	}
	for _, d := range goneOnly[:2] {
		if e.blobStored(d) {
			t.Fatalf("%s survived", d)
		}
	}
	e.clock.advance(10 * time.Minute)
	st, err = e.reg.CollectGarbage(ctx)
	if err != nil || st.Blobs != 1 || e.blobStored(goneOnly[2]) {
		t.Fatalf("third collection: %v %+v", err, st)
	}
	// keep, and the layer it shared with gone, are whole.
	if !e.complete("gc", keep) {
		t.Fatal("keep lost a blob")
	}
	if resp, _ := c.do(http.MethodGet, "/v2/gc/blobs/"+digest.FromBytes(keep.Blobs[1]).String(), nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("pull keep's shared layer: %d", resp.StatusCode)
	}
}

// A manifest put while a collection runs keeps the blobs it names, even
// blobs that were unreferenced and untouched for longer than the grace:
// the put either lands before the sweep (and is marked) or verifies after
// it (and fails). An acknowledged put never names a deleted blob.
func TestCollectionBesidePuts(t *testing.T) {
	e := newEnv(t)
	e.createRepo("race", "MUTABLE")
	c := e.client()
	for i := range 15 {
		img := newImage(t, 100, 100)
		if code, body := c.push("race", img.Digest.String(), img); code != http.StatusCreated {
			t.Fatalf("push: %d %s", code, body)
		}
		if err := e.reg.DeleteImage(ctx, "race", img.Digest.String()); err != nil {
			t.Fatal(err)
		}
		// Age the blobs: condemned by one collection, old enough at the next.
		if _, err := e.reg.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(11 * time.Minute)
		var wg sync.WaitGroup
		var putErr error
		wg.Go(func() { _, putErr = e.reg.PutImage(ctx, "race", "t", "", img.Manifest) })
		wg.Go(func() {
			if _, err := e.reg.CollectGarbage(ctx); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if putErr == nil && !e.complete("race", img) {
			t.Fatalf("round %d: the put was acknowledged but its image lost blobs", i)
		}
		if putErr != nil {
			if _, _, _, err := e.reg.Manifest(ctx, "race", img.Digest.String()); err == nil {
				t.Fatalf("round %d: a failed put (%v) left its manifest", i, putErr)
			}
		}
		if putErr == nil {
			if err := e.reg.DeleteImage(ctx, "race", img.Digest.String()); err != nil {
				t.Fatal(err)
			}
		}
	}
}
