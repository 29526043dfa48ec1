{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "patron.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or <release> when it already contains the chart name.
*/}}
{{- define "patron.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "patron.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "patron.labels" -}}
helm.sh/chart: {{ include "patron.chart" . }}
app.kubernetes.io/name: {{ include "patron.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "patron.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: patron
{{- end }}

{{/*
Selector of the server pods (the migration Job's pods carry another component, so the Service,
PDB and NetworkPolicy never select them).
*/}}
{{- define "patron.selectorLabels" -}}
app.kubernetes.io/name: {{ include "patron.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "patron.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "patron.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The migration Job's service account: it runs before the chart's own account exists on install.
*/}}
{{- define "patron.migrationServiceAccountName" -}}
{{- if .Values.migrations.job.serviceAccountName }}
{{- .Values.migrations.job.serviceAccountName }}
{{- else if .Values.serviceAccount.create }}
{{- "default" }}
{{- else }}
{{- include "patron.serviceAccountName" . }}
{{- end }}
{{- end }}

{{- define "patron.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "patron.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "patron.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
The Secret holding DATABASE_URL, PATRON_SECRET_KEY and PATRON_API_KEYS, and its key names.
*/}}
{{- define "patron.secretName" -}}
{{- default (include "patron.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "patron.secretKey.databaseUrl" -}}
{{- if .Values.secrets.existingSecret }}{{ .Values.secrets.keys.databaseUrl }}{{ else }}DATABASE_URL{{ end }}
{{- end }}

{{- define "patron.secretKey.secretKey" -}}
{{- if .Values.secrets.existingSecret }}{{ .Values.secrets.keys.secretKey }}{{ else }}PATRON_SECRET_KEY{{ end }}
{{- end }}

{{- define "patron.secretKey.apiKeys" -}}
{{- if .Values.secrets.existingSecret }}{{ .Values.secrets.keys.apiKeys }}{{ else }}PATRON_API_KEYS{{ end }}
{{- end }}

{{/*
The data of a chart-created Secret (used by secret.yaml and by the migration Job's hook Secret).
*/}}
{{- define "patron.secretData" -}}
DATABASE_URL: {{ .Values.secrets.databaseUrl | b64enc | quote }}
PATRON_SECRET_KEY: {{ .Values.secrets.secretKey | b64enc | quote }}
PATRON_API_KEYS: {{ join "\n" .Values.secrets.apiKeys | b64enc | quote }}
{{- end }}

{{/*
host:port for a listen address (IPv6 hosts in brackets).
*/}}
{{- define "patron.listenAddr" -}}
{{- $host := index . 0 }}
{{- $port := index . 1 }}
{{- if contains ":" $host }}
{{- printf "[%s]:%d" (trimAll "[]" $host) (int $port) }}
{{- else }}
{{- printf "%s:%d" $host (int $port) }}
{{- end }}
{{- end }}

{{/*
Where the secret files are mounted in the container.
*/}}
{{- define "patron.secretsDir" -}}/etc/patron/secrets{{- end }}
{{- define "patron.tlsDir" -}}/etc/patron/tls{{- end }}

{{/*
The non-secret environment, as a YAML map of strings: the ConfigMap's data, and (minus the
listeners, which the Job replaces by loopback ones) the migration Job's env.
*/}}
{{- define "patron.configEnv" -}}
{{- $c := .Values.config -}}
PATRON_GRPC_ADDR: {{ include "patron.listenAddr" (list $c.listenHost .Values.ports.grpc) | quote }}
PATRON_HTTP_ADDR: {{ include "patron.listenAddr" (list $c.listenHost .Values.ports.http) | quote }}
PATRON_MIGRATE_AT_START: {{ .Values.migrations.runAtStart | toString | quote }}
PATRON_DB_MAX_CONNECTIONS: {{ $c.dbMaxConnections | int | toString | quote }}
PATRON_SHUTDOWN_TIMEOUT_SECS: {{ $c.shutdownTimeoutSecs | int | toString | quote }}
PATRON_LOG_FORMAT: {{ $c.logFormat | quote }}
{{- with $c.logLevel }}
PATRON_LOG: {{ . | quote }}
{{- end }}
{{- with $c.stripeApiBase }}
PATRON_STRIPE_API_BASE: {{ . | quote }}
{{- end }}
{{- with $c.publicUrl }}
PATRON_PUBLIC_URL: {{ . | quote }}
{{- end }}
{{- if $c.insecureNoAuth }}
PATRON_INSECURE_NO_AUTH: "true"
{{- end }}
PATRON_API_KEYS_POLL_SECS: {{ $c.apiKeysPollSecs | int | toString | quote }}
PATRON_GRPC_MAX_CONCURRENT_STREAMS: {{ $c.grpcMaxConcurrentStreams | int | toString | quote }}
PATRON_MAX_CONCURRENT_CALLS: {{ $c.maxConcurrentCalls | int | toString | quote }}
PATRON_CALL_QUEUE_MS: {{ $c.callQueueMs | int | toString | quote }}
PATRON_MAX_OPEN_STREAMS: {{ $c.maxOpenStreams | int | toString | quote }}
PATRON_DEFAULT_DEADLINE_MS: {{ $c.defaultDeadlineMs | int | toString | quote }}
PATRON_MAX_REQUEST_BYTES: {{ $c.maxRequestBytes | int | toString | quote }}
PATRON_MAX_EVENTS_REQUEST_BYTES: {{ $c.maxEventsRequestBytes | int | toString | quote }}
PATRON_MAX_RESPONSE_BYTES: {{ $c.maxResponseBytes | int | toString | quote }}
PATRON_DB_STATEMENT_TIMEOUT_MS: {{ $c.dbStatementTimeoutMs | int | toString | quote }}
PATRON_DB_ACQUIRE_TIMEOUT_MS: {{ $c.dbAcquireTimeoutMs | int | toString | quote }}
{{- if .Values.tls.enabled }}
PATRON_TLS_CERT: {{ printf "%s/tls.crt" (include "patron.tlsDir" .) | quote }}
PATRON_TLS_KEY: {{ printf "%s/tls.key" (include "patron.tlsDir" .) | quote }}
{{- end }}
{{- with $c.otel.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- with $c.otel.protocol }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ . | quote }}
{{- end }}
{{- with $c.otel.serviceName }}
OTEL_SERVICE_NAME: {{ . | quote }}
{{- end }}
{{- with $c.otel.resourceAttributes }}
OTEL_RESOURCE_ATTRIBUTES: {{ . | quote }}
{{- end }}
{{- range $k, $v := $c.extra }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: given, or derived from the shutdown timeout; always above
preStop sleep + shutdown timeout, so that SIGKILL never cuts in-flight calls short.
*/}}
{{- define "patron.terminationGracePeriodSeconds" -}}
{{- $needed := add (int .Values.preStopSleepSeconds) (int .Values.config.shutdownTimeoutSecs) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $needed 10 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + config.shutdownTimeoutSecs (%d)" (int .Values.terminationGracePeriodSeconds) (int $needed)) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}

{{/*
The readiness probe: native gRPC on the health service "" (plaintext), or HTTP /readyz when gRPC
has TLS; both follow the database. Kubernetes' grpc probe takes a port number, not a port name.
The liveness and startup probes (kind "live") are HTTP /livez, which never looks at the database.
*/}}
{{- define "patron.probe" -}}
{{- $root := index . 0 }}
{{- $p := index . 1 }}
{{- $live := and (gt (len .) 2) (eq (index . 2) "live") }}
{{- if $live }}
httpGet:
  path: /livez
  port: http
{{- else if $root.Values.tls.enabled }}
httpGet:
  path: /readyz
  port: http
{{- else }}
grpc:
  port: {{ $root.Values.ports.grpc | int }}
  service: ""
{{- end }}
{{- range $k := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" "successThreshold" }}
{{- if hasKey $p $k }}
{{ $k }}: {{ index $p $k | int }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The secret-file volume of the pods: the key-encryption key and (unless insecureNoAuth) the API
keys, as files (patron prefers PATRON_*_FILE over secrets in the environment).
*/}}
{{- define "patron.secretVolume" -}}
{{- $root := index . 0 }}
{{- $secretName := index . 1 }}
{{- $withApiKeys := index . 2 }}
- name: secrets
  secret:
    secretName: {{ $secretName }}
    defaultMode: 0440
    items:
      - key: {{ include "patron.secretKey.secretKey" $root }}
        path: secret-key
      {{- if $withApiKeys }}
      - key: {{ include "patron.secretKey.apiKeys" $root }}
        path: api-keys
      {{- end }}
{{- end }}
