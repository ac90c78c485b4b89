{{- define "conveyor.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "conveyor.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "conveyor.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "conveyor.secretName" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-secrets" (include "conveyor.fullname" .)) }}
{{- end -}}

{{/* Environment every Conveyor container gets: the ConfigMap plus the secrets. */}}
{{- define "conveyor.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "conveyor.fullname" . }}-config
  - secretRef:
      name: {{ include "conveyor.secretName" . }}
{{- end -}}
