//! Images: inspected, tagged, listed, pulled.

use super::{Engine, EngineError};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListImagesOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;

/// One image as inspect shows it: what the actions read.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `sha256:...`
    pub id: Option<String>,
    /// `repo@sha256:...`, one per registry it was pulled from or pushed to.
    pub repo_digests: Vec<String>,
}

/// Inspect an image by reference, ID or digest (an error also when it is not on the host).
pub async fn inspect(docker: &Engine, reference: &str) -> Result<Image, EngineError> {
    let i = docker.inspect_image(reference).await?;
    Ok(Image {
        id: i.id,
        repo_digests: i.repo_digests.unwrap_or_default(),
    })
}

/// `docker tag IMAGE repo:tag`.
pub async fn tag(docker: &Engine, image: &str, repo: &str, tag: &str) -> Result<(), EngineError> {
    let opts = TagImageOptionsBuilder::default()
        .repo(repo)
        .tag(tag)
        .build();
    docker.tag_image(image, Some(opts)).await
}

/// Every `repo:tag` of the host's (top-level) images, `<none>:<none>` included.
pub async fn list_tags(docker: &Engine) -> Result<Vec<String>, EngineError> {
    let list = docker
        .list_images(Some(ListImagesOptionsBuilder::default().all(false).build()))
        .await?;
    Ok(list.into_iter().flat_map(|i| i.repo_tags).collect())
}

/// Pull `repo:tag` through the engine (with the engine's own credentials, none), to the end.
pub async fn pull(docker: &Engine, repo: &str, tag: &str) -> Result<(), EngineError> {
    let opts = CreateImageOptionsBuilder::new()
        .from_image(repo)
        .tag(tag)
        .build();
    let mut pull = docker.create_image(Some(opts), None, None);
    while let Some(step) = pull.next().await {
        step?;
    }
    Ok(())
}
