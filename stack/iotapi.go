package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/iam/sigv4"
)

// The AWS IoT control-plane API the stack speaks, on the identity
// listener, so an operator can revoke a device's certificate from another
// process (camstorm device revoke, or any SigV4 client for service "iot"):
//
//	PUT /certificates/CERTIFICATE_ID?newStatus=REVOKED   (UpdateCertificate)
//
// Only REVOKED is a status the stack changes to; the caller needs
// iot:UpdateCertificate on arn:aws:iot:REGION:ACCOUNT:cert/CERTIFICATE_ID.

const signIoT = "iot"

// iotAPIService is the IoT API to the gateway (REST-JSON errors).
func iotAPIService(g *gateway) service {
	return service{
		signingName: signIoT, protocol: sigv4.RESTJSON, source: g.source("iot.amazonaws.com"), maxBody: 4 << 10,
		tooLarge:  "InvalidRequestException",
		operation: func(*http.Request) string { return "UpdateCertificate" },
		streaming: func(*http.Request) bool { return false },
		dataEvent: func(string) bool { return false },
		readOnly:  func(string) bool { return false },
	}
}

// updateCertificateHandler serves UpdateCertificate.
func updateCertificateHandler(acc *access, svc *iam.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", code)
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
		}
		id := strings.TrimPrefix(r.URL.Path, "/certificates/")
		if r.Method != http.MethodPut || id == "" || strings.Contains(id, "/") {
			fail(http.StatusBadRequest, "InvalidRequestException", "UpdateCertificate is PUT /certificates/CERTIFICATE_ID?newStatus=REVOKED")
			return
		}
		status := r.URL.Query().Get("newStatus")
		if status != iam.CertificateRevoked {
			fail(http.StatusBadRequest, "InvalidRequestException", fmt.Sprintf("newStatus %q: the stack can only revoke a certificate (REVOKED)", status))
			return
		}
		c := callerOf(r.Context())
		resource := "arn:aws:iot:" + acc.region + ":" + svc.Account() + ":cert/" + id
		if c == nil {
			fail(http.StatusForbidden, "AccessDeniedException", "the request was not authenticated")
			return
		}
		if d := acc.decide(c, "iot:UpdateCertificate", resource); !d.Allowed() {
			fail(http.StatusForbidden, "AccessDeniedException", deniedMessage(c, "iot:UpdateCertificate", resource, d))
			return
		}
		c.touched(resource, "AWS::IoT::Certificate")
		switch err := svc.RevokeCertificate(id); {
		case errors.Is(err, iam.ErrNotFound):
			fail(http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("certificate %s is not registered", id))
		case err != nil:
			fail(http.StatusInternalServerError, "InternalFailureException", err.Error())
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
}
