package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/strictjson"
)

// decode reads a JSON body into dst: it demands a JSON content type in
// UTF-8 without a content coding, caps the body at limit bytes (413
// beyond), refuses unknown, repeated and case-variant fields, invalid
// UTF-8 and trailing data, and names the offending field in every error:
// a request has one meaning, the one every other JSON parser reads too.
func decode(c *gin.Context, limit int64, dst any) error {
	body, err := readJSONBody(c, limit)
	if err != nil {
		return err
	}
	return decodeJSON(body, dst)
}

// readJSONBody is decode's HTTP part: the content type and coding
// checked, the body read up to limit bytes.
func readJSONBody(c *gin.Context, limit int64) ([]byte, error) {
	ct := c.GetHeader("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		// Only application/json is JSON here: not text/x+json or any other
		// +json type, which would mean something else to a proxy or a WAF.
		return nil, newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	for k, v := range params {
		if k != "charset" {
			return nil, newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type application/json takes no parameter but charset=utf-8 ("+k+" is not accepted)")
		}
		if !strings.EqualFold(v, "utf-8") {
			return nil, newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type", "the JSON body must be UTF-8 (charset="+v+" is not accepted)")
		}
	}
	for _, enc := range c.Request.Header.Values("Content-Encoding") {
		if !strings.EqualFold(strings.TrimSpace(enc), "identity") {
			return nil, newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Encoding is not accepted; send the body uncompressed")
		}
	}
	if c.Request.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	// One buffer the size the client declared (a batch of 1000 is 23 kB:
	// io.ReadAll grew and copied it seven times); MaxBytesReader still
	// holds the body to the limit whatever was declared.
	var buf bytes.Buffer
	if n := c.Request.ContentLength; n > 0 {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, domain.Invalid("body", "the request body could not be read")
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return newAPIError(http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("the request body exceeds %d bytes", limit))
}

// decodeJSON is decode without the HTTP parts (strictjson); the fuzz
// tests drive it.
func decodeJSON(body []byte, dst any) error {
	err := strictjson.Decode(body, dst)
	var se *strictjson.Error
	if errors.As(err, &se) {
		return domain.Invalid(se.Field, se.Msg)
	}
	return err
}
