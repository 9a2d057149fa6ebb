//! Every refusal of the eligibility module: a stable code for programs and a short Chinese
//! message for students and school staff, as the capture refusals have.

use chrono::{DateTime, Utc};
use photo_ledger_domain::feature_code::FeatureCodeError;
use photo_ledger_domain::last_four::LastFourError;

use super::codes::CodeError;
use crate::guessing::GuessError;
use crate::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum EligibilityError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("no school named {0:?}")]
    UnknownSchool(String),
    #[error("school {school:?} does not collect for {education_type:?}")]
    UnknownEducationType {
        school: String,
        education_type: String,
    },
    #[error("malformed feature code: {0}")]
    InvalidFeatureCode(#[from] FeatureCodeError),
    #[error("no batch has feature code {0}")]
    UnknownBatch(String),
    #[error("batch {feature_code} closed at {closed_at}")]
    BatchClosed {
        feature_code: String,
        closed_at: DateTime<Utc>,
    },
    #[error("batch {0} has verified students: its policy can no longer change")]
    BatchInUse(String),
    #[error("no open batch for {education_type} at {school}")]
    NoOpenBatch {
        school: String,
        education_type: String,
    },
    #[error("malformed last four: {0}")]
    InvalidLastFour(#[from] LastFourError),
    #[error("collection code refused: {0}")]
    CodeInvalid(#[from] CodeError),
    #[error("no QR code could be read from the image")]
    CodeUnreadable,
    #[error("the collection code belongs to another school or education category")]
    CodeMismatch,
    #[error("the student is not on the school's roster")]
    NotOnRoster,
    #[error("the last four do not match the ID number on the roster")]
    LastFourMismatch,
    #[error("the student number is on several rosters: choose one of {0:?}")]
    EducationTypeRequired(Vec<String>),
    #[error("too many failed attempts; locked until {until}")]
    Locked { until: DateTime<Utc> },
    #[error("this education record was verified from another account")]
    ClaimedByAnother,
    #[error("roster file: {0}")]
    RosterUnreadable(String),
    #[error("the roster has no column for {}: name the columns in Chinese (学号, 姓名, 证件类型, 证件号码, 学历类别) or English (student_number, name, id_type, id_number, education_type)", .0.join(", "))]
    RosterMissingColumns(Vec<&'static str>),
    #[error("code signing key: {0}")]
    SigningKey(String),
    #[error(
        "this instance only verifies collection codes; they are issued where the signing key is"
    )]
    NotIssuingCodes,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

impl From<GuessError> for EligibilityError {
    fn from(e: GuessError) -> Self {
        match e {
            GuessError::Locked { until } => EligibilityError::Locked { until },
            GuessError::Store(e) => EligibilityError::Store(e),
        }
    }
}

impl EligibilityError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        use EligibilityError::*;
        match self {
            InvalidInput(_) => "eligibility.invalid_input",
            UnknownSchool(_) => "eligibility.unknown_school",
            UnknownEducationType { .. } => "eligibility.unknown_education_type",
            InvalidFeatureCode(_) => "eligibility.invalid_feature_code",
            UnknownBatch(_) => "eligibility.unknown_batch",
            BatchClosed { .. } => "eligibility.batch_closed",
            BatchInUse(_) => "eligibility.batch_in_use",
            NoOpenBatch { .. } => "eligibility.no_open_batch",
            InvalidLastFour(_) => "eligibility.invalid_last4",
            CodeInvalid(CodeError::Outdated) => "eligibility.code_outdated",
            CodeInvalid(_) => "eligibility.code_invalid",
            CodeUnreadable => "eligibility.code_unreadable",
            CodeMismatch => "eligibility.code_mismatch",
            NotOnRoster => "eligibility.not_on_roster",
            LastFourMismatch => "eligibility.last4_mismatch",
            EducationTypeRequired(_) => "eligibility.education_type_required",
            Locked { .. } => "eligibility.locked",
            ClaimedByAnother => "eligibility.claimed_by_another",
            RosterUnreadable(_) => "eligibility.roster_unreadable",
            RosterMissingColumns(_) => "eligibility.roster_missing_columns",
            SigningKey(_) => "eligibility.signing_key_invalid",
            NotIssuingCodes => "eligibility.not_issuing_codes",
            Ledger(e) => e.code(),
            Store(_) => "eligibility.store_unavailable",
        }
    }

    /// A short message for the student or school staff, in Chinese.
    pub fn message(&self) -> String {
        use EligibilityError::*;
        match self {
            InvalidInput(detail) => format!("输入有误：{detail}"),
            UnknownSchool(name) => format!("未找到学校“{name}”，请核对学校全称"),
            UnknownEducationType {
                school,
                education_type,
            } => format!("{school}未开展“{education_type}”的照片采集"),
            InvalidFeatureCode(_) => "特征码为 6 位字母或数字，请核对后重新输入".into(),
            UnknownBatch(_) => "特征码不存在，请核对学校通知中的特征码".into(),
            BatchClosed { .. } => "本批次采集已截止".into(),
            BatchInUse(code) => {
                format!(
                    "批次 {code} 已有学生完成验证，收费与采集规则不能再修改；如需调整请新建批次"
                )
            }
            NoOpenBatch { .. } => "学校目前没有进行中的照片采集".into(),
            InvalidLastFour(_) => {
                "请输入证件号码的后四位（括号算作字符，如 A123456(7) 输入 6(7)）".into()
            }
            CodeInvalid(CodeError::Outdated) => "采集码已停用，请联系学校获取新的采集码".into(),
            CodeInvalid(_) => "采集码无效，请使用学校下发的采集码".into(),
            CodeUnreadable => "未能识别图片中的采集码，请上传清晰完整的截图".into(),
            CodeMismatch => "采集码与所选学校或学历类别不符".into(),
            NotOnRoster => "未在学校名单中找到该学生，请联系学校核实".into(),
            LastFourMismatch => "证件号码后四位不正确".into(),
            EducationTypeRequired(types) => {
                format!("该学号对应多个学历类别，请选择：{}", types.join("、"))
            }
            Locked { until } => {
                format!(
                    "验证失败次数过多，请于 {} 后再试",
                    crate::china_time::format(until, "%H:%M")
                )
            }
            ClaimedByAnother => "该学历已由其他微信账号完成验证，如有疑问请联系学校".into(),
            RosterUnreadable(detail) => format!("名单文件无法读取：{detail}"),
            RosterMissingColumns(columns) => format!("名单缺少列：{}", columns.join("、")),
            SigningKey(_) => "采集码签名密钥配置有误".into(),
            NotIssuingCodes => "本服务实例只校验采集码，请在持有签名密钥的实例上下载".into(),
            Ledger(e) => e.message(),
            Store(_) => "服务暂时不可用，请稍后重试".into(),
        }
    }

    /// A wrong guess at a secret: these count towards the guessing locks.
    pub fn is_guess(&self) -> bool {
        use EligibilityError::*;
        matches!(
            self,
            UnknownBatch(_) | CodeUnreadable | CodeMismatch | NotOnRoster | LastFourMismatch
        ) || matches!(self, CodeInvalid(e) if *e != CodeError::Outdated)
    }

    /// A refusal worth recording in the failed-verification log (not an outage).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            EligibilityError::Store(_)
                | EligibilityError::Ledger(_)
                | EligibilityError::SigningKey(_)
                | EligibilityError::NotIssuingCodes
        )
    }
}
