# Builds irflow's two binaries into one small image; docker-compose.yml runs the
# worker and the ingress from it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/starter ./starter && \
    CGO_ENABLED=0 go build -trimpath -o /out/worker ./workers

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/starter /out/worker /usr/local/bin/
COPY deploy/config/irflow.example.yaml /etc/irflow/irflow.yaml
COPY deploy/rules /etc/irflow/rules
USER nonroot
ENTRYPOINT ["/usr/local/bin/worker"]
