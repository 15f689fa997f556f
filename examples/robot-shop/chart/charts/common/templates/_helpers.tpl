{{/* Labels every object of a service carries. */}}
{{- define "common.labels" -}}
app: {{ .Values.name }}
tier: {{ .Values.tier }}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/part-of: robot-shop
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pod selector: one label, as the services find each other by it. */}}
{{- define "common.selectorLabels" -}}
app: {{ .Values.name }}
{{- end -}}

{{- define "common.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
{{- end -}}

{{- define "common.pullPolicy" -}}
{{ (.Values.global).imagePullPolicy | default .Values.image.pullPolicy }}
{{- end -}}

{{/* Init containers that wait for each dependency's port (`waitFor`), so a pod does not
     crash-loop while its database starts. */}}
{{- define "common.waitFor" -}}
{{- range .Values.waitFor }}
- name: wait-for-{{ .name }}
  image: busybox:1.35
  command: ["sh", "-c"]
  args:
    - |
      until nc -z {{ .name }} {{ .port }}; do
        echo "Waiting for {{ .name }} on {{ .name }}:{{ .port }}..."
        sleep 2
      done
      echo "{{ .name }} is ready!"
{{- end }}
{{- end -}}

{{/* The container's configuration: the ConfigMap for `env`, a secretKeyRef per `secrets` key
     (the service's own Secret) and per `secretRefs` entry (another service's, e.g. the
     database password a client shares with its database). */}}
{{- define "common.envFrom" -}}
{{- if .Values.env }}
envFrom:
  - configMapRef:
      name: {{ .Values.name }}-config
{{- end }}
{{- if or .Values.secrets .Values.secretRefs }}
env:
  {{- range $key, $_ := .Values.secrets }}
  - name: {{ $key }}
    valueFrom:
      secretKeyRef:
        name: {{ $.Values.name }}-secret
        key: {{ $key }}
  {{- end }}
  {{- range .Values.secretRefs }}
  - name: {{ .name }}
    valueFrom:
      secretKeyRef:
        name: {{ .secret }}
        key: {{ .key }}
  {{- end }}
{{- end }}
{{- end -}}
