package respwriter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/internal/respwriter"
)

func TestWriterRecordsStatusAndBytes(t *testing.T) {
	tests := []struct {
		name      string
		handle    func(w http.ResponseWriter)
		status    int
		statusOr  int
		bytes     int64
		flushed   bool
		recorderC int
	}{
		{"nothing", func(w http.ResponseWriter) {}, 0, 200, 0, false, 200},
		{"implicit 200", func(w http.ResponseWriter) { w.Write([]byte("abc")) }, 200, 200, 3, false, 200},
		{"explicit", func(w http.ResponseWriter) { w.WriteHeader(503); w.Write([]byte("no")) }, 503, 503, 2, false, 503},
		// httptest.ResponseRecorder keeps the first code it is given, even a 1xx.
		{"informational first", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(201) }, 201, 201, 0, false, 103},
		{"flush", func(w http.ResponseWriter) { http.NewResponseController(w).Flush() }, 200, 200, 0, true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := respwriter.New(rec)
			tt.handle(w)
			if w.Status() != tt.status || w.StatusOr200() != tt.statusOr || w.Bytes() != tt.bytes {
				t.Errorf("status %d/%d bytes %d, want %d/%d %d", w.Status(), w.StatusOr200(), w.Bytes(), tt.status, tt.statusOr, tt.bytes)
			}
			if rec.Flushed != tt.flushed || rec.Code != tt.recorderC {
				t.Errorf("recorder flushed=%v code=%d", rec.Flushed, rec.Code)
			}
		})
	}
}

func TestHijackOnAWriterThatCannot(t *testing.T) {
	w := respwriter.New(httptest.NewRecorder())
	if _, _, err := w.Hijack(); err == nil {
		t.Fatal("hijacking a recorder should fail")
	}
	if w.Status() != 0 {
		t.Fatalf("failed hijack recorded status %d", w.Status())
	}
}
