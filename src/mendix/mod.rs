//! Clients for the four Mendix APIs: Mendix Cloud Build and Deploy API v1, Private Cloud Build and
//! Deploy API v4. They know nothing of Kubernetes.
