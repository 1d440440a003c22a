package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/report"
)

// decode reads a JSON body into dst: it demands a JSON content type, caps
// the body at limit bytes (413 beyond), refuses unknown fields and
// trailing data, and names the offending field in every error.
func decode(c *gin.Context, limit int64, dst any) error {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	if c.Request.ContentLength > limit {
		return tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return report.Invalid("body", "the request body could not be read")
	}
	return decodeJSON(body, dst)
}

func tooLarge(limit int64) error {
	return newAPIError(http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("the request body exceeds %d bytes", limit))
}

// decodeJSON is decode without the HTTP parts; the fuzz test drives it.
func decodeJSON(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return report.Invalid("body", "the request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return report.Invalid("body", "the request body must be a single JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return report.Invalid("body", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return report.Invalid("body", "the request body must be a JSON object")
		}
		return report.Invalid(field, fmt.Sprintf("%s must be %s", field, jsonKind(typ.Type.Kind().String())))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return report.Invalid("body", "malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		field := name
		if field == "" {
			field = "body"
		}
		return report.Invalid(field, fmt.Sprintf("unknown field %q", name))
	}
	return report.Invalid("body", "malformed JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}
