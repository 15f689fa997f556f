{{- define "hotswap.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- define "hotswap.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "hotswap.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "hotswap.serviceAccountName" -}}
{{- default (include "hotswap.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
{{- define "hotswap.databaseSecret" -}}
{{- default (printf "%s-db-secret" (include "hotswap.fullname" .)) .Values.externalDatabase.existingSecret -}}
{{- end -}}
