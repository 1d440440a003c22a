# syntax=docker/dockerfile:1
# Multi-stage build: a static mulegate binary on an empty base image,
# running as a non-root user. No shell, no package manager in the result.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/mulegate ./cmd/mulegate \
 && mkdir -p /out/etc && echo 'mulegate:x:65532:65532:mulegate:/:/sbin/nologin' > /out/etc/passwd \
 && echo 'mulegate:x:65532:' > /out/etc/group

FROM scratch
LABEL org.opencontainers.image.title="mulegate" \
      org.opencontainers.image.description="Bank-side gateway for suspicious IBANs (money-mule accounts)" \
      org.opencontainers.image.source="https://github.com/mulegate/mulegate"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build /out/mulegate /mulegate
USER 65532:65532
# 8443: mTLS API; 9090: operations (/healthz, /readyz, /metrics).
EXPOSE 8443 9090
# No shell or curl in the image: the binary asks its own ops endpoint.
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/mulegate", "health", "--url", "http://127.0.0.1:9090/healthz"]
ENTRYPOINT ["/mulegate"]
CMD ["serve", "--config", "/etc/mulegate/mulegate.yaml"]
