package orders

import shttp "github.com/switchyard/switchyard/transport/http"

// HTTPError is the error the transport writes for err, for tests of the
// service that check what a caller would see.
func HTTPError(err error) *shttp.Error { return shttp.ErrorFor(httpError(err)) }
