package deadline_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/deadline"
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"1", time.Millisecond, true},
		{"250", 250 * time.Millisecond, true},
		{"9999999999", 9_999_999_999 * time.Millisecond, true},
		{"", 0, false},
		{"00", 0, false},
		{"007", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1.5", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"10000000000", 0, false},
		{"99999999999999999999", 0, false},
		{"１２", 0, false},
		{"12ms", 0, false},
	} {
		got, err := deadline.ParseHeader(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseHeader(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, deadline.ErrBadHeader) {
			t.Errorf("ParseHeader(%q) = %v, %v; want ErrBadHeader", tc.in, got, err)
		}
	}
}

func TestFormatHeader(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{250 * time.Millisecond, "250"},
		{250*time.Millisecond + 999*time.Microsecond, "250"}, // rounds down
		{999 * time.Microsecond, "0"},
		{-time.Second, "0"},
		{200 * 24 * time.Hour, "9999999999"},
	} {
		if got := deadline.FormatHeader(tc.in); got != tc.want {
			t.Errorf("FormatHeader(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseHeader checks that the parser never panics, accepts only the
// canonical form (which formatting gives back unchanged) and reports
// every rejection as ErrBadHeader.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"", "0", "1", "250", "007", "-1", "1e3", " 5", "9999999999", "10000000000", "１２", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := deadline.ParseHeader(s)
		if err != nil {
			if !errors.Is(err, deadline.ErrBadHeader) {
				t.Fatalf("ParseHeader(%q) error %v does not match ErrBadHeader", s, err)
			}
			if d != 0 {
				t.Fatalf("ParseHeader(%q) returned %v with an error", s, d)
			}
			return
		}
		if d < 0 || d%time.Millisecond != 0 || d > 9_999_999_999*time.Millisecond {
			t.Fatalf("ParseHeader(%q) = %v, not a whole number of ms in range", s, d)
		}
		if got := deadline.FormatHeader(d); got != s {
			t.Fatalf("ParseHeader accepted %q, which formats back as %q", s, got)
		}
		if strings.TrimLeft(s, "0123456789") != "" {
			t.Fatalf("ParseHeader accepted non-digits in %q", s)
		}
	})
}
