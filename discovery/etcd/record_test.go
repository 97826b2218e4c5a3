package etcd_test

import (
	"errors"
	"testing"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := discovery.Instance{ID: "c-1", Service: "catalog", Addr: "[::1]:8080", Weight: 7,
		Zone: "eu-1a", Version: "1.2.3", Meta: map[string]string{"canary": "true"}}
	v, err := etcd.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	key := etcd.Key(etcd.DefaultPrefix, in)
	if key != "/switchyard/services/catalog/c-1" {
		t.Fatalf("Key = %q", key)
	}
	out, err := etcd.Decode(etcd.DefaultPrefix, []byte(key), v)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Equal(in) {
		t.Fatalf("round trip gave %+v, want %+v", out, in)
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	const pre = etcd.DefaultPrefix
	tests := []struct {
		name, key, value string
	}{
		{"not JSON", pre + "s/a", "nope"},
		{"trailing data", pre + "s/a", `{"id":"a","service":"s","addr":"h:1"} {}`},
		{"wrong type", pre + "s/a", `{"id":"a","service":"s","addr":"h:1","weight":"heavy"}`},
		{"no ID", pre + "s/", `{"service":"s","addr":"h:1"}`},
		{"no port", pre + "s/a", `{"id":"a","service":"s","addr":"h"}`},
		{"negative weight", pre + "s/a", `{"id":"a","service":"s","addr":"h:1","weight":-1}`},
		{"ID differs from key", pre + "s/b", `{"id":"a","service":"s","addr":"h:1"}`},
		{"service differs from key", pre + "t/a", `{"id":"a","service":"s","addr":"h:1"}`},
		{"slash in service", pre + "s/x/a", `{"id":"a","service":"s/x","addr":"h:1"}`},
		{"other prefix", "/elsewhere/s/a", `{"id":"a","service":"s","addr":"h:1"}`},
		{"null", pre + "s/a", `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if in, err := etcd.Decode(pre, []byte(tc.key), []byte(tc.value)); !errors.Is(err, etcd.ErrBadRecord) {
				t.Fatalf("Decode = %+v, %v; want ErrBadRecord", in, err)
			}
		})
	}
}

func TestEncodeRejectsInvalidInstances(t *testing.T) {
	for _, in := range []discovery.Instance{
		{Service: "s", Addr: "h:1"},
		{ID: "a", Service: "s", Addr: "h:0"},
		{ID: "a", Service: "s/x", Addr: "h:1"},
	} {
		if _, err := etcd.Encode(in); err == nil {
			t.Errorf("Encode(%+v) succeeded", in)
		}
	}
}

// FuzzDecodeInstance feeds arbitrary keys and values to Decode: it must
// never panic, and whatever it accepts must be a valid instance that
// encodes back to a value decoding to the same instance under the same key.
func FuzzDecodeInstance(f *testing.F) {
	const pre = etcd.DefaultPrefix
	f.Add([]byte(pre+"s/a"), []byte(`{"id":"a","service":"s","addr":"h:1"}`))
	f.Add([]byte(pre+"catalog/c-1"), []byte(`{"id":"c-1","service":"catalog","addr":"[::1]:8080","weight":7,"zone":"z","version":"v","meta":{"k":"v"}}`))
	f.Add([]byte(pre+"s/a"), []byte(`{"id":"a","service":"s","addr":"h:1","weight":1048577}`))
	f.Add([]byte(pre+"s/a"), []byte(`{"id":"a","id":"b"}`))
	f.Add([]byte("x"), []byte(`[]`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		in, err := etcd.Decode(pre, key, value)
		if err != nil {
			if !errors.Is(err, etcd.ErrBadRecord) {
				t.Fatalf("error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		if err := in.Validate(); err != nil {
			t.Fatalf("accepted an invalid instance %+v: %v", in, err)
		}
		if got := etcd.Key(pre, in); got != string(key) {
			t.Fatalf("accepted %+v under key %q, its key is %q", in, key, got)
		}
		v, err := etcd.Encode(in)
		if err != nil {
			t.Fatalf("cannot encode accepted instance %+v: %v", in, err)
		}
		again, err := etcd.Decode(pre, key, v)
		if err != nil || !again.Equal(in) {
			t.Fatalf("re-decoding gave %+v, %v; want %+v", again, err, in)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	in := discovery.Instance{ID: "catalog-7f3a", Service: "catalog", Addr: "10.0.0.7:8080", Weight: 2,
		Zone: "eu-1a", Version: "1.4.0", Meta: map[string]string{"canary": "true"}}
	key := []byte(etcd.Key(etcd.DefaultPrefix, in))
	v, err := etcd.Encode(in)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := etcd.Decode(etcd.DefaultPrefix, key, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := etcd.Decode(etcd.DefaultPrefix, key, v); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
