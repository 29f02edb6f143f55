"""Demo question bank (题库) of the province, and the paper rules of the demo's 执法资格考试.

84 questions in eight categories, each a law area of one of the qualification exam's parts:

- 通用法律知识 (40): 行政执法三项制度, 行政处罚法, 行政强制法;
- 专门法律知识 (60): 安全生产法, and the four sectors: 煤矿安全, 非煤矿山安全, 危险化学品安全,
  工贸安全.

Each qualification exam of the demo gets the rules below (per part: so many questions of a
category and kind, points each, adding up to the part's full marks), with more questions in
the bank than any rule draws, so papers differ. Written through exams.questions (events and
versions included) by the province's admin; a question already in the bank and an exam that
already has rules are left alone, so a second run adds nothing.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model

from personnel.models import Region, RegionLevel

from . import questions
from .models import Exam, ExamKind, PaperRule, Question

S, M, T = "single", "multiple", "true_false"
YES, NO = "正确", "错误"

THREE = "行政执法三项制度"
PENALTY = "行政处罚法"
COERCION = "行政强制法"
SAFETY = "安全生产法"
COAL = "煤矿安全"
NON_COAL = "非煤矿山安全"
CHEMICALS = "危险化学品安全"
TRADE = "工贸安全"

# (kind, category, difficulty, stem, options, answer, explanation); true/false: no options.
BANK: tuple[tuple, ...] = (
    # --- 行政执法三项制度 (国办发〔2018〕118号)
    (S, THREE, 1, "行政执法“三项制度”不包括下列哪一项？",
     ["行政执法公示制度", "执法全过程记录制度", "重大执法决定法制审核制度", "行政执法责任追究制度"], "D",
     "三项制度：行政执法公示制度、执法全过程记录制度、重大执法决定法制审核制度。"),
    (S, THREE, 2, "按照推行“三项制度”的指导意见，行政执法决定信息原则上应当在执法决定作出之日起几个工作日内公开？",
     ["3个", "5个", "7个", "20个"], "C", "行政许可、行政处罚的执法决定信息要在执法决定作出之日起7个工作日内公开。"),
    (S, THREE, 1, "行政执法人员在执法过程中应当主动出示什么证件？",
     ["工作证", "行政执法证件", "单位介绍信", "居民身份证"], "B", ""),
    (S, THREE, 1, "执法全过程记录的形式包括文字记录和哪一种记录？",
     ["音像记录", "口头记录", "事后回忆记录", "第三方记录"], "A", "通过文字、音像等记录形式，对行政执法全过程进行记录。"),
    (S, THREE, 2, "重大执法决定法制审核由行政执法机关的哪个机构负责？",
     ["法制审核机构", "办公室", "纪检监察机构", "案件承办机构"], "A", ""),
    (S, THREE, 2, "未经法制审核或者审核未通过的重大执法决定，应当如何处理？",
     ["不得作出决定", "先作出决定再补审核", "由执法人员自行决定", "报上级备案后作出"], "A", ""),
    (S, THREE, 3, "对查封扣押财产、强制拆除等直接涉及重大财产权益的现场执法活动，应当如何记录？",
     ["推行全程音像记录", "只作文字记录", "事后补记", "由当事人自行记录"], "A", ""),
    (M, THREE, 2, "行政执法机关应当在事前公开的信息包括哪些？",
     ["执法主体", "执法人员", "职责权限", "执法人员的家庭住址"], "ABC", "事前公开执法主体、人员、职责、权限、依据、程序、监督方式等。"),
    (M, THREE, 2, "重大执法决定法制审核的内容包括哪些？",
     ["执法主体是否合法", "执法人员是否具备执法资格", "执法程序是否合法", "当事人的社会评价"], "ABC", ""),
    (M, THREE, 1, "行政执法“三项制度”包括哪些？",
     ["行政执法公示制度", "执法全过程记录制度", "重大执法决定法制审核制度", "行政复议前置制度"], "ABC", ""),
    (T, THREE, 2, "行政执法决定被依法撤销的，已公开的执法决定信息也不得撤下。", None, "B",
     "执法决定被依法撤销、确认违法或者要求重新作出的，应当及时从信息公示平台撤下原行政执法决定信息。"),
    (T, THREE, 1, "执法全过程记录应当做到执法全过程留痕和可回溯管理。", None, "A", ""),
    (T, THREE, 2, "重大执法决定法制审核以行政执法机关负责人审核为主。", None, "B", "由法制审核机构负责。"),
    (T, THREE, 1, "未取得行政执法证件的人员，不得从事行政执法活动。", None, "A", ""),
    # --- 行政处罚法 (2021年修订)
    (S, PENALTY, 1, "违法行为在几年内未被发现的，一般不再给予行政处罚？",
     ["一年", "二年", "三年", "五年"], "B", "《行政处罚法》第三十六条。"),
    (S, PENALTY, 2, "涉及公民生命健康安全、金融安全且有危害后果的违法行为，追责期限延长至几年？",
     ["三年", "五年", "十年", "二十年"], "B", "《行政处罚法》第三十六条。"),
    (S, PENALTY, 2, "当事人应当自收到行政处罚决定书之日起几日内缴纳罚款？",
     ["七日", "十日", "十五日", "三十日"], "C", "《行政处罚法》第六十七条。"),
    (S, PENALTY, 2, "当事人要求听证的，应当在行政机关告知后几日内提出？",
     ["三日", "五日", "七日", "十日"], "B", "《行政处罚法》第六十四条。"),
    (S, PENALTY, 2, "违法事实确凿并有法定依据，对公民处以多少元以下罚款的，可以当场作出行政处罚决定？",
     ["五十元", "二百元", "五百元", "一千元"], "B", "对公民处二百元以下、对法人或者其他组织处三千元以下罚款。"),
    (S, PENALTY, 1, "不满多少周岁的未成年人有违法行为的，不予行政处罚？",
     ["十二周岁", "十四周岁", "十六周岁", "十八周岁"], "B", "不予行政处罚，责令监护人加以管教。"),
    (S, PENALTY, 3, "下列哪一项不属于行政处罚的种类？",
     ["警告", "罚款", "查封场所、设施或者财物", "责令停产停业"], "C", "查封是行政强制措施。"),
    (M, PENALTY, 1, "下列属于行政处罚种类的有哪些？",
     ["警告、通报批评", "罚款、没收违法所得", "暂扣许可证件", "行政拘留"], "ABCD", "《行政处罚法》第九条。"),
    (M, PENALTY, 2, "行政机关在作出行政处罚决定之前，应当告知当事人哪些内容？",
     ["拟作出的行政处罚内容", "事实、理由及依据", "当事人依法享有的陈述、申辩、要求听证等权利", "执法人员的个人收入"], "ABC", ""),
    (M, PENALTY, 3, "下列哪些情形应当从轻或者减轻行政处罚？",
     ["主动消除或者减轻违法行为危害后果的", "受他人胁迫或者诱骗实施违法行为的", "主动供述行政机关尚未掌握的违法行为的",
      "多次实施同一违法行为的"], "ABC", "《行政处罚法》第三十二条。"),
    (M, PENALTY, 2, "执法人员当场作出行政处罚决定的，应当如何做？",
     ["向当事人出示执法证件", "填写预定格式、编有号码的行政处罚决定书", "将决定书当场交付当事人", "事后再补办全部手续"], "ABC", ""),
    (T, PENALTY, 1, "对当事人的同一个违法行为，不得给予两次以上罚款的行政处罚。", None, "A", "一事不再罚。"),
    (T, PENALTY, 2, "当事人有证据足以证明没有主观过错的，不予行政处罚；法律、行政法规另有规定的，从其规定。", None, "A", ""),
    (T, PENALTY, 1, "行政机关可以因当事人陈述、申辩而给予更重的处罚。", None, "B", "不得因当事人陈述、申辩而给予更重的处罚。"),
    (T, PENALTY, 2, "听证由本案的调查人员主持。", None, "B", "听证由行政机关指定的非本案调查人员主持。"),
    # --- 行政强制法
    (S, COERCION, 1, "下列属于行政强制措施的是？",
     ["罚款", "查封场所、设施或者财物", "警告", "吊销许可证件"], "B", ""),
    (S, COERCION, 2, "查封、扣押的期限一般不得超过多少日？",
     ["十五日", "三十日", "六十日", "九十日"], "B", "情况复杂的，经批准可以延长，延长期限不得超过三十日。"),
    (S, COERCION, 2, "行政强制措施应当由谁实施？",
     ["法律、法规规定的行政机关在法定职权范围内", "任何行政机关", "受委托的企业", "临时聘用人员"], "A", ""),
    (S, COERCION, 2, "实施行政强制措施时，当事人不到场的，应当邀请谁到场？",
     ["见证人", "律师", "当事人的同事", "新闻记者"], "A", "由见证人和行政执法人员在现场笔录上签名或者盖章。"),
    (S, COERCION, 3, "当事人收到行政机关的催告书后，有权进行什么？",
     ["陈述和申辩", "提起仲裁", "要求赔偿", "申请延期至任意时间"], "A", "《行政强制法》第三十六条。"),
    (M, COERCION, 1, "行政强制措施的种类包括哪些？",
     ["限制公民人身自由", "查封场所、设施或者财物", "扣押财物", "冻结存款、汇款"], "ABCD", "《行政强制法》第九条。"),
    (M, COERCION, 2, "实施行政强制措施应当遵守哪些规定？",
     ["实施前须向行政机关负责人报告并经批准", "由两名以上行政执法人员实施", "出示执法身份证件", "制作现场笔录"], "ABCD", ""),
    (M, COERCION, 2, "行政强制执行的方式包括哪些？",
     ["加处罚款或者滞纳金", "划拨存款、汇款", "拍卖或者依法处理查封、扣押的场所、设施或者财物", "口头批评"], "ABC", ""),
    (T, COERCION, 1, "行政强制措施权可以委托给其他行政机关或者组织行使。", None, "B", "行政强制措施权不得委托。"),
    (T, COERCION, 2, "行政机关不得在夜间或者法定节假日实施行政强制执行，但情况紧急的除外。", None, "A", ""),
    (T, COERCION, 2, "加处罚款或者滞纳金的数额不得超出金钱给付义务的数额。", None, "A", ""),
    # --- 安全生产法 (2021年修正)
    (S, SAFETY, 1, "安全生产工作坚持什么方针？",
     ["安全第一、预防为主、综合治理", "生产第一、安全第二", "以罚代管、重在处罚", "事后追责、严格问责"], "A", ""),
    (S, SAFETY, 1, "谁是生产经营单位安全生产第一责任人，对本单位的安全生产工作全面负责？",
     ["主要负责人", "安全生产管理人员", "分管负责人", "班组长"], "A", ""),
    (S, SAFETY, 2, "矿山、危险物品等以外的生产经营单位，从业人员超过多少人的，应当设置安全生产管理机构或者配备专职安全生产管理人员？",
     ["五十人", "一百人", "二百人", "三百人"], "B", "《安全生产法》第二十四条。"),
    (S, SAFETY, 1, "特种作业人员必须经专门的安全作业培训，取得什么后方可上岗作业？",
     ["相应资格", "学历证书", "健康证明", "工作证"], "A", ""),
    (S, SAFETY, 1, "新建、改建、扩建工程项目的安全设施，必须与主体工程如何？",
     ["同时设计、同时施工、同时投入生产和使用", "先投产后补建", "由施工单位自行决定", "验收后一年内建成"], "A", "“三同时”。"),
    (S, SAFETY, 1, "生产经营单位发生生产安全事故后，事故现场有关人员应当立即报告谁？",
     ["本单位负责人", "新闻媒体", "保险公司", "行业协会"], "A", ""),
    (S, SAFETY, 2, "从业人员发现直接危及人身安全的紧急情况时，有权怎样做？",
     ["停止作业或者在采取可能的应急措施后撤离作业场所", "继续作业直至班次结束", "只能报告后原地等待", "自行拆除安全设施"], "A", ""),
    (S, SAFETY, 3, "生产经营单位拒不执行停产停业决定，有发生生产安全事故的现实危险的，负有安全生产监督管理职责的部门经本部门主要负责人批准，可以采取什么措施？",
     ["通知有关单位停止供电、停止供应民用爆炸物品", "拘留主要负责人", "没收全部财产", "吊销营业执照"], "A", "《安全生产法》第七十条。"),
    (S, SAFETY, 2, "生产经营单位应当构建安全风险分级管控和隐患排查治理的什么机制？",
     ["双重预防机制", "单一检查机制", "事后处置机制", "自愿报告机制"], "A", ""),
    (M, SAFETY, 2, "从业人员依法享有的安全生产权利包括哪些？",
     ["知情权和建议权", "批评、检举、控告权", "拒绝违章指挥和强令冒险作业", "紧急情况下停止作业和紧急撤离"], "ABCD", ""),
    (M, SAFETY, 2, "生产经营单位主要负责人的安全生产职责包括哪些？",
     ["建立健全并落实本单位全员安全生产责任制", "组织制定并实施安全生产规章制度和操作规程", "保证安全生产投入的有效实施",
      "及时、如实报告生产安全事故"], "ABCD", "《安全生产法》第二十一条。"),
    (M, SAFETY, 3, "安全生产监督检查人员执行监督检查任务时，应当做到哪些？",
     ["出示有效的行政执法证件", "忠于职守、坚持原则、秉公执法", "对被检查单位的技术秘密和业务秘密保密", "事先通知被检查单位做好准备"], "ABC", ""),
    (M, SAFETY, 2, "负有安全生产监督管理职责的部门开展监督检查时，可以行使哪些职权？",
     ["进入生产经营单位检查，调阅有关资料", "对安全生产违法行为当场纠正或者要求限期改正", "对事故隐患责令立即排除",
      "对不符合国家标准或者行业标准的设施、设备、器材予以查封或者扣押"], "ABCD", "《安全生产法》第六十五条。"),
    (M, SAFETY, 1, "安全生产工作实行的“三个必须”包括哪些？",
     ["管行业必须管安全", "管业务必须管安全", "管生产经营必须管安全", "管宣传必须管安全"], "ABC", ""),
    (T, SAFETY, 1, "生产经营单位可以与从业人员订立协议，免除其对从业人员因生产安全事故伤亡依法应承担的责任。", None, "B",
     "此类协议无效。"),
    (T, SAFETY, 1, "生产经营单位必须为从业人员提供符合国家标准或者行业标准的劳动防护用品。", None, "A", ""),
    (T, SAFETY, 1, "生产经营单位不得使用应当淘汰的危及生产安全的工艺、设备。", None, "A", ""),
    (T, SAFETY, 2, "两个以上生产经营单位在同一作业区域内进行可能危及对方安全的生产经营活动，应当签订安全生产管理协议。", None, "A", ""),
    (T, SAFETY, 2, "安全生产管理人员在检查中发现的安全问题，不能处理的，无须报告本单位有关负责人。", None, "B",
     "应当及时报告本单位有关负责人。"),
    # --- 煤矿安全
    (S, COAL, 1, "煤矿井下作业人员下井前必须随身携带什么？",
     ["自救器", "手机", "打火机", "收音机"], "A", ""),
    (S, COAL, 2, "矿井必须采用哪种通风方式？",
     ["机械通风", "自然通风", "间歇通风", "局部自然通风"], "A", ""),
    (S, COAL, 1, "煤矿“一通三防”中的“一通”是指什么？",
     ["通风", "通信", "通道", "通电"], "A", ""),
    (M, COAL, 2, "煤矿“一通三防”中的“三防”包括哪些？",
     ["防瓦斯", "防煤尘", "防灭火", "防洪水"], "ABC", ""),
    (T, COAL, 1, "严禁携带烟草和点火物品下井。", None, "A", ""),
    (T, COAL, 2, "煤矿企业可以在停产整顿期间组织超层越界开采。", None, "B", ""),
    # --- 非煤矿山安全
    (S, NON_COAL, 2, "金属非金属地下矿山每个生产水平至少应有几个独立的能行人的直达地面的安全出口？",
     ["一个", "两个", "三个", "四个"], "B", ""),
    (S, NON_COAL, 2, "露天矿山开采应当遵循什么原则？",
     ["自上而下分台阶开采", "自下而上掏底开采", "先中间后两端", "随意开采"], "A", ""),
    (S, NON_COAL, 1, "非煤矿山企业应当取得什么许可证后方可从事生产活动？",
     ["安全生产许可证", "排污许可证", "卫生许可证", "无需任何许可"], "A", ""),
    (M, NON_COAL, 3, "尾矿库运行管理的要求包括哪些？",
     ["控制库水位，保证安全超高和干滩长度", "定期进行安全现状评价", "汛前检查排洪设施", "在库区内随意采挖"], "ABC", ""),
    (T, NON_COAL, 1, "地下矿山可以只设一个安全出口组织生产。", None, "B", ""),
    (T, NON_COAL, 2, "露天矿山严禁采用掏底开采。", None, "A", ""),
    # --- 危险化学品安全
    (S, CHEMICALS, 2, "危险化学品单位对重大危险源应当登记建档，并进行定期什么？",
     ["检测、评估、监控", "宣传", "销售", "转移"], "A", ""),
    (S, CHEMICALS, 1, "剧毒化学品的储存应当实行什么制度？",
     ["双人收发、双人保管", "一人管理", "自由取用", "无人值守"], "A", ""),
    (S, CHEMICALS, 1, "危险化学品生产企业应当提供与其生产的危险化学品相符的什么？",
     ["化学品安全技术说明书和安全标签", "产品广告", "销售发票", "员工名册"], "A", ""),
    (M, CHEMICALS, 2, "危险化学品的储存方式包括哪些？",
     ["隔离储存", "隔开储存", "分离储存", "与禁忌物料混合储存"], "ABC", ""),
    (M, CHEMICALS, 2, "化工企业的特殊作业包括哪些？",
     ["动火作业", "受限空间作业", "高处作业", "办公室文书作业"], "ABC", ""),
    (T, CHEMICALS, 1, "危险化学品可以与禁忌物料混合储存。", None, "B", ""),
    (T, CHEMICALS, 2, "进入受限空间作业前应当进行气体检测，坚持先通风、再检测、后作业。", None, "A", ""),
    # --- 工贸安全
    (S, TRADE, 2, "粉尘涉爆企业清理作业场所积尘时，禁止使用哪种方式？",
     ["压缩空气吹扫", "负压吸尘", "湿法清扫", "防爆吸尘器"], "A", ""),
    (S, TRADE, 1, "工贸企业有限空间作业应当坚持什么原则？",
     ["先通风、再检测、后作业", "先作业、后检测", "边作业边通风", "无需检测"], "A", ""),
    (S, TRADE, 2, "涉氨制冷企业液氨储罐区应当设置什么装置？",
     ["氨气泄漏检测报警装置", "烟雾报警器", "广播喇叭", "门禁闸机"], "A", ""),
    (M, TRADE, 2, "工贸企业有限空间作业前应当做到哪些？",
     ["制定作业方案", "对作业人员进行安全交底", "配备检测仪器和防护用品", "无需审批即可作业"], "ABC", ""),
    (T, TRADE, 2, "冶金企业的会议室、休息室等人员聚集场所可以设置在高温熔融金属吊运影响范围内。", None, "B", ""),
    (T, TRADE, 3, "铝镁等金属粉尘的湿式除尘系统应当采取防止氢气积聚的措施。", None, "A", ""),
)  # fmt: skip

GENERAL, SPECIALIST = "通用法律知识", "专门法律知识"
# (part, category, kind, count, points): each part adds up to its full marks (40 and 60).
RULES: tuple[tuple, ...] = (
    (GENERAL, THREE, S, 4, "2"),
    (GENERAL, THREE, M, 2, "3"),
    (GENERAL, THREE, T, 2, "1"),
    (GENERAL, PENALTY, S, 4, "2"),
    (GENERAL, PENALTY, M, 2, "3"),
    (GENERAL, PENALTY, T, 2, "1"),
    (GENERAL, COERCION, S, 3, "2"),
    (GENERAL, COERCION, T, 2, "1"),
    (SPECIALIST, SAFETY, S, 7, "2"),
    (SPECIALIST, SAFETY, M, 4, "3"),
    (SPECIALIST, SAFETY, T, 4, "1"),
    *((SPECIALIST, sector, kind, count, points) for sector in (COAL, NON_COAL, CHEMICALS)
      for kind, count, points in ((S, 2, "2"), (M, 1, "3"), (T, 1, "1"))),
    (SPECIALIST, TRADE, S, 2, "2"),
    (SPECIALIST, TRADE, T, 2, "1"),
)  # fmt: skip


def seed_question_bank(*, stdout=None) -> dict:
    """The province's bank and the qualification exams' paper rules; returns what it added."""
    actor = get_user_model().objects.get(username="province_admin")
    province = Region.objects.get(code="130000", level=RegionLevel.PROVINCE)
    held = set(Question.objects.filter(region=province).values_list("digest", flat=True))
    added = 0
    for kind, category, difficulty, stem, options, answer, explanation in BANK:
        if questions.question_digest(stem=stem, options=options or questions.TRUE_FALSE_OPTIONS) in held:
            continue
        questions.question_create(
            actor=actor,
            region=province,
            kind=kind,
            stem=stem,
            options=options or [],
            answer=answer,
            explanation=explanation,
            category=category,
            difficulty=difficulty,
        )
        added += 1
    ruled = 0
    for exam in Exam.objects.filter(kind=ExamKind.QUALIFICATION, region=province).order_by("created_at"):
        if PaperRule.objects.filter(part__exam=exam).exists():
            continue
        parts = {part.name: part for part in exam.parts.all()}
        if set(parts) != {GENERAL, SPECIALIST}:
            continue
        rules = [
            questions.RuleSpec(part=parts[part], category=category, kind=kind, count=count, points=Decimal(points))
            for part, category, kind, count, points in RULES
        ]
        questions.paper_rules_set(exam=exam, actor=actor, rules=rules)
        ruled += 1
    if stdout is not None:
        total = Question.objects.filter(region=province).count()
        stdout.write(f"题库：新增试题 {added} 道（省题库共 {total} 道）；为 {ruled} 场执法资格考试设置组卷规则\n")
    return {"questions": added, "exams_ruled": ruled}
