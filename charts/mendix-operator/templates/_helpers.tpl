{{- define "mendix-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release name, with the chart's name unless it already holds it. */}}
{{- define "mendix-operator.fullname" -}}
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

{{- define "mendix-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mendix-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mendix-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mendix-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mendix-operator
{{- end }}

{{- define "mendix-operator.serviceAccountName" -}}
{{- default (include "mendix-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* repository@digest when a digest pins the image, else repository:tag. */}}
{{- define "mendix-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The operator's grants where it watches: the same rules as the ClusterRole of deploy/base/rbac.yaml
and the Roles of deploy/namespaced/rbac.yaml (tests/helm_chart.rs compares them).
*/}}
{{- define "mendix-operator.rules" -}}
# Its own kinds: watch all four; read a referenced package, namespace, cluster or promotion
# source environment; add and remove the cleanup finalizer (a JSON patch) of a resource with
# deletionPolicy: Delete; write status (server-side apply).
- apiGroups: ["mendixops.io"]
  resources: ["mendixpackages", "mendixnamespaces", "mendixclusters"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["mendixops.io"]
  resources: ["mendixenvironments"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["mendixops.io"]
  resources:
    - "mendixpackages/status"
    - "mendixenvironments/status"
    - "mendixclusters/status"
    - "mendixnamespaces/status"
  verbs: ["patch"]
# Credentials and secret constant values, read on demand (never listed or watched).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Kubernetes Events for each step (events.k8s.io/v1, one create each).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
Bytes of a whole Kubernetes quantity (2Gi, 500Mi, 1G), to compare the emptyDir's limit with the
largest download; anything else fails the render instead of the pod.
*/}}
{{- define "mendix-operator.quantityBytes" -}}
{{- $q := toString . }}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) }}
{{- fail (printf "downloads.sizeLimit: %q is not a whole Kubernetes quantity such as 2Gi or 500Mi" $q) }}
{{- end }}
{{- $number := regexFind "^[0-9]+" $q }}
{{- $factors := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- mul (int64 $number) (get $factors (trimPrefix $number $q)) }}
{{- end }}

{{/* Bytes of a size as the operator reads MAX_DOWNLOAD_SIZE (bytes, KiB, MiB or GiB). */}}
{{- define "mendix-operator.sizeBytes" -}}
{{- $s := toString . | trim }}
{{- if not (regexMatch "^[0-9]+ *(B|KiB|MiB|GiB)?$" $s) }}
{{- fail (printf "downloads.maxSize: %q is not a size such as 1GiB or 500MiB" $s) }}
{{- end }}
{{- $number := regexFind "^[0-9]+" $s }}
{{- $factors := dict "" 1 "B" 1 "KiB" 1024 "MiB" 1048576 "GiB" 1073741824 }}
{{- mul (int64 $number) (get $factors (trimPrefix $number $s | trim)) }}
{{- end }}
