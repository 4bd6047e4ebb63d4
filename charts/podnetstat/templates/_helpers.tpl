{{/*
The chart's name, cut to 63 characters (the limit of a label value).
*/}}
{{- define "podnetstat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: "<release>-podnetstat", or the release name alone when
it already contains the chart's name.
*/}}
{{- define "podnetstat.fullname" -}}
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

{{- define "podnetstat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object; the selector labels must never change between releases.
*/}}
{{- define "podnetstat.labels" -}}
helm.sh/chart: {{ include "podnetstat.chart" . }}
{{ include "podnetstat.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: node-agent
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "podnetstat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podnetstat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "podnetstat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podnetstat.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "podnetstat.image" -}}
{{- $repository := required "image.repository is required" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
HOST:PORT for a listen flag; IPv6 addresses get brackets. Takes (list address port).
*/}}
{{- define "podnetstat.hostPort" -}}
{{- $address := index . 0 }}
{{- $port := index . 1 }}
{{- if contains ":" $address }}
{{- printf "[%s]:%v" $address $port }}
{{- else }}
{{- printf "%s:%v" $address $port }}
{{- end }}
{{- end }}

{{- define "podnetstat.criEndpoint" -}}
{{- if .Values.cri.endpoint }}
{{- .Values.cri.endpoint }}
{{- else if .Values.cri.socketPath }}
{{- printf "unix://%s" .Values.cri.socketPath }}
{{- else }}
{{- "none" }}
{{- end }}
{{- end }}

{{/*
What holds the CRI socket in the pod: the socket's directory, so that the new socket of a runtime
that restarted shows up (a mount of the file keeps the old one); the socket itself where that
directory is /run or /var/run, which hold every daemon's sockets.
*/}}
{{- define "podnetstat.criMountPath" -}}
{{- $dir := dir .Values.cri.socketPath }}
{{- if has $dir (list "/" "/run" "/var/run") }}
{{- .Values.cri.socketPath }}
{{- else }}
{{- $dir }}
{{- end }}
{{- end }}

{{/*
"true" when AppArmor goes into the securityContext field, which exists from Kubernetes 1.30 on;
older clusters take the beta annotation instead.
*/}}
{{- define "podnetstat.appArmorField" -}}
{{- if and .Values.appArmorProfile.type (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version) }}true{{ end }}
{{- end }}

{{- define "podnetstat.appArmorAnnotation" -}}
{{- $profile := .Values.appArmorProfile }}
{{- if eq $profile.type "Localhost" }}
{{- printf "localhost/%s" $profile.localhostProfile }}
{{- else if eq $profile.type "Unconfined" }}
{{- "unconfined" }}
{{- else }}
{{- "runtime/default" }}
{{- end }}
{{- end }}

{{/*
The address --listen binds: remote.address in remote mode, api.address otherwise.
*/}}
{{- define "podnetstat.apiAddress" -}}
{{- if .Values.remote.enabled }}
{{- .Values.remote.address }}
{{- else }}
{{- .Values.api.address }}
{{- end }}
{{- end }}

{{/*
"true" when an address is loopback (127.0.0.0/8, ::1), "" otherwise.
*/}}
{{- define "podnetstat.isLoopback" -}}
{{- if or (hasPrefix "127." .) (eq . "::1") }}true{{ end }}
{{- end }}

{{/*
Where the TLS Secret is mounted in remote mode.
*/}}
{{- define "podnetstat.tlsDir" -}}
/etc/podnetstat/tls
{{- end }}
