package kubernetes_test

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// certificate and issuer are the fields of cert-manager's Certificate and
// Issuer (cert-manager.io/v1) that the manifests use; decoding is strict,
// so a field outside them is an error here, as a typo would be.
type certificate struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		SecretName  string   `json:"secretName"`
		IsCA        bool     `json:"isCA,omitempty"`
		CommonName  string   `json:"commonName,omitempty"`
		URIs        []string `json:"uris,omitempty"`
		DNSNames    []string `json:"dnsNames,omitempty"`
		Usages      []string `json:"usages,omitempty"`
		Duration    string   `json:"duration,omitempty"`
		RenewBefore string   `json:"renewBefore,omitempty"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm"`
			Size           int    `json:"size"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		IssuerRef struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

type issuer struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}

// rendered is one overlay rendered by kustomize and decoded into the API
// types, by name.
type rendered struct {
	namespaces   map[string]*corev1.Namespace
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pvcs         map[string]*corev1.PersistentVolumeClaim
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	policies     map[string]*networkingv1.NetworkPolicy
	ingresses    map[string]*networkingv1.Ingress
	certificates map[string]*certificate
	issuers      map[string]*issuer
}

// render builds dir with kustomize, as "kubectl kustomize dir" does, and
// decodes every object strictly: an unknown field, a wrong type or a kind
// this test does not know fails the test.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := &rendered{
		namespaces: map[string]*corev1.Namespace{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		pvcs: map[string]*corev1.PersistentVolumeClaim{}, deployments: map[string]*appsv1.Deployment{},
		statefulSets: map[string]*appsv1.StatefulSet{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, policies: map[string]*networkingv1.NetworkPolicy{},
		ingresses: map[string]*networkingv1.Ingress{}, certificates: map[string]*certificate{}, issuers: map[string]*issuer{},
	}
	for _, res := range resources.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		gvk := res.GetGvk()
		key := gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
		name := res.GetName()
		if ns := res.GetNamespace(); gvk.Kind != "Namespace" && ns != "shop" {
			t.Errorf("%s %s is in namespace %q, want shop", gvk.Kind, name, ns)
		}
		var err2 error
		switch key {
		case "/v1/Namespace":
			r.namespaces[name], err2 = decode[corev1.Namespace](doc)
		case "/v1/Service":
			r.services[name], err2 = decode[corev1.Service](doc)
		case "/v1/ConfigMap":
			r.configMaps[name], err2 = decode[corev1.ConfigMap](doc)
		case "/v1/Secret":
			r.secrets[name], err2 = decode[corev1.Secret](doc)
		case "/v1/PersistentVolumeClaim":
			r.pvcs[name], err2 = decode[corev1.PersistentVolumeClaim](doc)
		case "apps/v1/Deployment":
			r.deployments[name], err2 = decode[appsv1.Deployment](doc)
		case "apps/v1/StatefulSet":
			r.statefulSets[name], err2 = decode[appsv1.StatefulSet](doc)
		case "policy/v1/PodDisruptionBudget":
			r.pdbs[name], err2 = decode[policyv1.PodDisruptionBudget](doc)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			r.hpas[name], err2 = decode[autoscalingv2.HorizontalPodAutoscaler](doc)
		case "networking.k8s.io/v1/NetworkPolicy":
			r.policies[name], err2 = decode[networkingv1.NetworkPolicy](doc)
		case "networking.k8s.io/v1/Ingress":
			r.ingresses[name], err2 = decode[networkingv1.Ingress](doc)
		case "cert-manager.io/v1/Certificate":
			r.certificates[name], err2 = decode[certificate](doc)
		case "cert-manager.io/v1/Issuer":
			r.issuers[name], err2 = decode[issuer](doc)
		default:
			err2 = fmt.Errorf("a kind this test does not check")
		}
		if err2 != nil {
			t.Errorf("%s %s: %v", key, name, err2)
		}
	}
	if t.Failed() {
		t.FailNow() // the checks need every object
	}
	return r
}

func decode[T any](doc []byte) (*T, error) {
	v := new(T)
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return nil, err
	}
	return v, nil
}

// secretValue returns the value of key in the rendered secret name, or
// ok false when the overlay leaves that Secret to the operator.
func (r *rendered) secretValue(name, key string) (string, bool) {
	s := r.secrets[name]
	if s == nil {
		return "", false
	}
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	return string(v), ok
}
