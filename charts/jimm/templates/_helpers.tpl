{{/* The chart's name, or nameOverride. */}}
{{- define "jimm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The fullname: every object's name, and the ServiceMonitor's job. */}}
{{- define "jimm.fullname" -}}
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

{{- define "jimm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jimm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jimm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jimm.labels" -}}
helm.sh/chart: {{ include "jimm.chart" . }}
{{ include "jimm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "jimm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jimm.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "jimm.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* host:port clients are told: publicAddress, else the Service's name. */}}
{{- define "jimm.publicAddress" -}}
{{- if .Values.publicAddress }}
{{- .Values.publicAddress }}
{{- else }}
{{- printf "%s.%s.svc:%v" (include "jimm.fullname" .) .Release.Namespace .Values.service.apiPort }}
{{- end }}
{{- end }}

{{/* The host of the public address (without the port; IPv6 unbracketed). */}}
{{- define "jimm.publicHost" -}}
{{- $addr := include "jimm.publicAddress" . }}
{{- if hasPrefix "[" $addr }}
{{- regexReplaceAll "^\\[([^\\]]*)\\].*$" $addr "${1}" }}
{{- else }}
{{- regexReplaceAll ":[0-9]+$" $addr "" }}
{{- end }}
{{- end }}

{{- define "jimm.terminationGracePeriodSeconds" -}}
{{- $min := add (int .Values.preStopSleepSeconds) (int .Values.shutdownGraceSeconds) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $min 15 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) $min }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than preStopSleepSeconds + shutdownGraceSeconds (%v), or the kubelet kills replicas before they drain" .Values.terminationGracePeriodSeconds $min) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* An env entry from an existing Secret: (list "NAME" .Values.x "what"). */}}
{{- define "jimm.secretEnv" -}}
{{- $name := index . 0 }}
{{- $ref := index . 1 }}
{{- $what := index . 2 -}}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "%s.existingSecret: the Secret holding %s" $what $what) $ref.existingSecret | quote }}
      key: {{ required (printf "%s.key: the key of %s in its Secret" $what $what) $ref.key | quote }}
{{- end }}

{{/* The label matchers of the chart's series in PromQL. */}}
{{- define "jimm.promSelector" -}}
namespace="{{ .Release.Namespace }}", job="{{ include "jimm.fullname" . }}"
{{- end }}

{{/* Where the TLS Secret is mounted. */}}
{{- define "jimm.tlsDir" -}}
/etc/jimm/tls
{{- end }}
